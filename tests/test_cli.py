"""Acceptance tests: the real ``stent-desk`` console script in subprocesses, on a SQLite file."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from bs4 import BeautifulSoup
from patience import patience

from app.cli import DEMO
from app.engine import Result, Stent
from app.settings import example_modules

SCRIPT = Path(sys.executable).with_name("stent-desk")
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "app.cli"]

# A workflow of the tests' own, so signal payloads do not depend on the examples' schemas.
FLOWS = """
from app.engine import Result, Stent

DECISION = {"type": "object", "required": ["approved"],
            "properties": {"approved": {"type": "boolean"}, "comment": {"type": "string"}}}


@Stent.durable()
async def record(note: str) -> str:
    return note


@Stent.durable()
async def expense(amount: float) -> Result:
    await record(f"expense of {amount}")
    decision = await Stent.wait_for_signal("decision", schema=DECISION,
                                           title="Approve the expense?")
    return Result.Ok({"approved": decision["approved"], "amount": amount})
"""


@pytest.fixture(scope="session")
def flows_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("flows")
    (directory / "cli_flows.py").write_text(FLOWS)
    return directory


@pytest.fixture
def flows(flows_dir: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(flows_dir))
    return importlib.import_module("cli_flows")


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'desk.db'}"


@pytest.fixture
def env(db_url: str, flows_dir: Path) -> dict[str, str]:
    """The subprocesses' environment: the temp database and the tests' workflow module."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("STENT_")}
    return base | {
        "STENT_DATABASE_URL": db_url,
        "STENT_WORKFLOW_MODULES": "cli_flows",
        "PYTHONPATH": str(flows_dir),
        "STENT_PORT": str(free_port()),
    }


def free_port() -> int:
    """A TCP port nothing listens on now, for the server under test."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def desk(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=patience(60),
        cwd=env["PYTHONPATH"],
    )


async def start_expense(db_url: str, flows: ModuleType, amount: float = 120.5) -> str:
    """Start an ``expense`` execution in this process and leave it waiting for its decision."""
    async with Stent(db_url) as stent:
        eid = await stent.dispatch(flows.expense, amount)
        deadline = time.monotonic() + patience(5)
        while time.monotonic() < deadline:
            if (await stent.state_of(eid)).waiting_on:
                return eid
            await asyncio.sleep(0.05)
    raise AssertionError(f"execution {eid} never waited")


@pytest.fixture
def serve(env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """``stent-desk serve`` in the background, once it says it is running."""
    with running_server(env) as proc:
        yield proc


@contextlib.contextmanager
def running_server(env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """``stent-desk serve`` with ``env``, from when it says it is running until killed."""
    proc = subprocess.Popen(
        [*COMMAND, "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=env["PYTHONPATH"],
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "Stent Desk on http://127.0.0.1:" in line, line + proc.stderr.read()  # type: ignore[union-attr]
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=patience(30))


def wait_for_state(env: dict[str, str], eid: str, state: str) -> str:
    deadline = time.monotonic() + patience(20)
    while time.monotonic() < deadline:
        shown = desk(env, "show", eid).stdout
        if re.search(rf"^State +{state}$", shown, re.M):
            return shown
        time.sleep(0.2)
    raise AssertionError(f"{eid} never reached {state}:\n{shown}")


def test_migrate_creates_the_schema(env: dict[str, str], tmp_path: Path) -> None:
    done = desk(env, "migrate")
    assert done.returncode == 0, done.stderr
    assert "head revision" in done.stdout
    with sqlite3.connect(tmp_path / "desk.db") as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"executions", "steps", "signals", "alembic_version"} <= tables
    assert desk(env, "migrate").returncode == 0  # again: nothing to do


def test_database_url_option_overrides_the_environment(env: dict[str, str], tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    assert desk(env, "migrate", "--database-url", f"sqlite+aiosqlite:///{other}").returncode == 0
    assert other.exists() and not (tmp_path / "desk.db").exists()


def test_bad_setting_exits_2_naming_the_variable(env: dict[str, str]) -> None:
    done = desk(env | {"STENT_MAX_SIGNAL_BYTES": "lots"}, "list")
    assert done.returncode == 2
    assert "STENT_MAX_SIGNAL_BYTES" in done.stderr


def test_demo_dispatches_executions_that_list_waiting_shows(env: dict[str, str]) -> None:
    examples = {k: v for k, v in env.items() if k != "STENT_WORKFLOW_MODULES"}
    done = desk(examples, "demo")
    assert done.returncode == 0, done.stderr
    started = re.findall(r"^([0-9a-f-]{36}) +(\S+) +(.+)$", done.stdout, re.M)
    assert [workflow for _, workflow, _ in started] == [workflow for workflow, _, _ in DEMO]
    assert {workflow.rsplit(".", 1)[0] for workflow, _, _ in DEMO} == set(example_modules())
    waiting = {eid for eid, _, waits in started if waits != "-"}
    assert len(waiting) == len(DEMO), done.stdout  # every example waits for a signal
    listed = desk(examples, "list", "--waiting", "--limit", "100")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].split() == [
        "ID",
        "WORKFLOW",
        "STATE",
        "OPEN",
        "WAITS",
        "CREATED",
    ]
    assert waiting <= set(re.findall(r"^([0-9a-f-]{36}) ", listed.stdout, re.M))
    not_waiting = desk(examples, "list", "--not-waiting").stdout
    assert not waiting & set(re.findall(r"^([0-9a-f-]{36}) ", not_waiting, re.M))


async def test_list_filters_by_workflow_and_state(
    env: dict[str, str], db_url: str, flows: ModuleType
) -> None:
    eid = await start_expense(db_url, flows)
    row = desk(env, "list", "--workflow", "cli_flows.expense").stdout.splitlines()[1]
    assert row.split()[:4] == [eid, "cli_flows.expense", "running", "1"]
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", row)
    assert eid not in desk(env, "list", "--workflow", "other.flow").stdout
    assert eid not in desk(env, "list", "--state", "completed").stdout
    assert desk(env, "list", "--limit", "0").returncode == 2


async def test_show_prints_steps_and_open_waits(
    env: dict[str, str], db_url: str, flows: ModuleType
) -> None:
    eid = await start_expense(db_url, flows)
    done = desk(env, "show", eid)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert re.search(rf"^Execution +{eid}$", text, re.M)
    assert re.search(r"^Args +\[120\.5\]$", text, re.M)
    steps = text.split("\nSteps\n")[1].split("\nOpen waits\n")[0]
    assert re.search(r"^1 +activity +cli_flows\.record +done", steps, re.M), steps
    assert re.search(r"^2 +wait +decision +open", steps, re.M), steps
    waits = text.split("\nOpen waits\n")[1].split("\nSignals\n")[0]
    assert "Approve the expense?" in waits
    assert "approved*: boolean, comment: string" in waits
    assert text.rstrip().endswith("Signals\n(none)")


async def test_signal_is_consumed_by_the_wait_and_completes_under_serve(
    env: dict[str, str], db_url: str, flows: ModuleType, serve: subprocess.Popen[str]
) -> None:
    eid = await start_expense(db_url, flows)
    sent = desk(
        env,
        "signal",
        eid,
        "decision",
        "--json",
        '{"approved": true}',
        "--sender-email",
        "boss@example.com",
        "--idempotency-key",
        "k1",
    )
    assert sent.returncode == 0, sent.stderr
    assert "consumed by step 2" in sent.stdout
    shown = wait_for_state(env, eid, "completed")
    result = re.search(r"^Result +ok: (.*)$", shown, re.M)
    assert result and json.loads(result[1]) == {"approved": True, "amount": 120.5}, shown
    signals = shown.split("\nSignals\n")[1]
    assert re.search(r"^1 +decision +boss@example\.com +consumed +2 ", signals, re.M), signals
    again = desk(
        env, "signal", eid, "decision", "--json", '{"approved": true}', "--idempotency-key", "k1"
    )
    assert again.returncode == 0 and "duplicate" in again.stdout
    serve.send_signal(signal.SIGTERM)
    out, err = serve.communicate(timeout=30)
    assert serve.returncode == 0, err
    assert "stopped" in out


async def test_signal_without_a_worker_resumes_on_the_next_start(
    env: dict[str, str], db_url: str, flows: ModuleType
) -> None:
    eid = await start_expense(db_url, flows, 80.0)
    sent = desk(env, "signal", eid, "decision", "--json", '{"approved": false}')
    assert sent.returncode == 0, sent.stderr
    async with Stent(db_url) as stent:
        result = await stent.wait_for(eid, timeout=patience(20))
    assert result == Result.Ok({"approved": False, "amount": 80.0})


def test_signal_to_unknown_execution_exits_1(env: dict[str, str]) -> None:
    assert desk(env, "migrate").returncode == 0
    done = desk(env, "signal", "no-such-id", "decision", "--json", "{}")
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and "not found" in done.stderr
    shown = desk(env, "show", "no-such-id")
    assert shown.returncode == 1 and "not found" in shown.stderr


def test_invalid_json_exits_2(env: dict[str, str]) -> None:
    done = desk(env, "signal", "some-id", "decision", "--json", "{approved: yes}")
    assert done.returncode == 2
    assert "not valid JSON" in done.stderr


async def test_schema_invalid_payload_exits_1_listing_the_field(
    env: dict[str, str], db_url: str, flows: ModuleType
) -> None:
    eid = await start_expense(db_url, flows)
    done = desk(env, "signal", eid, "decision", "--json", '{"approved": "maybe"}')
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[0].startswith("error: ")
    assert any(line.strip().startswith("approved:") for line in lines[1:]), done.stderr
    assert "Signals\n(none)" in desk(env, "show", eid).stdout


def login_statuses(env: dict[str, str], forwarded_for: list[str]) -> list[int]:
    """``GET /login/sso`` (a login attempt) from each forwarded client address in turn."""
    base = f"http://127.0.0.1:{env['STENT_PORT']}"
    deadline = time.monotonic() + patience(20)
    while True:  # it says it runs just before it listens
        try:
            httpx.get(f"{base}/healthz", timeout=patience(5))
            break
        except httpx.ConnectError:
            assert time.monotonic() < deadline, "the server never listened"
            time.sleep(0.05)
    url = f"{base}/login/sso"
    return [
        httpx.get(url, headers={"X-Forwarded-For": address}, timeout=patience(5)).status_code
        for address in forwarded_for
    ]


@pytest.mark.parametrize("trusted, third", [("127.0.0.1", "allowed"), ("", "refused")])
def test_forwarded_client_addresses_count_only_from_trusted_proxies(
    env: dict[str, str], trusted: str, third: str
) -> None:
    env = env | {"STENT_LOGIN_RATE_LIMIT": "2/minute", "STENT_TRUSTED_PROXIES": trusted}
    with running_server(env):
        statuses = login_statuses(env, ["10.0.0.1", "10.0.0.1", "10.0.0.2"])
    assert statuses[:2] != [429, 429]
    # through a trusted proxy the third attempt is another client's first; without one,
    # all three come from the proxy's address and the third is over the limit
    assert (statuses[2] == 429) == (third == "refused"), statuses


async def test_workers_lists_the_running_server_with_the_executions_it_owns(
    env: dict[str, str], db_url: str, flows: ModuleType, serve: subprocess.Popen[str]
) -> None:
    await start_expense(db_url, flows)  # then handed back: the server claims it
    deadline = time.monotonic() + patience(20)
    while True:
        rows = desk(env, "workers").stdout.splitlines()
        if len(rows) == 2 and rows[1].split()[-2:] == ["1", "alive"]:
            break
        assert time.monotonic() < deadline, rows
        time.sleep(0.2)
    assert rows[0].split() == [
        "WORKER",
        "HOST",
        "PID",
        "STARTED",
        "HEARTBEAT",
        "EXECUTIONS",
        "STATE",
    ]
    assert rows[1].split()[2] == str(serve.pid)
    serve.terminate()
    serve.wait(timeout=patience(30))
    assert desk(env, "workers").stdout.strip() == "No worker process is running."


async def test_a_lone_surrogate_in_a_signal_is_refused_naming_the_field(
    env: dict[str, str], db_url: str, flows: ModuleType
) -> None:
    eid = await start_expense(db_url, flows)
    done = desk(
        env, "signal", eid, "decision", "--json", '{"approved": true, "comment": "\\ud800"}'
    )
    assert done.returncode == 1, done.stderr
    assert any(
        line.strip().startswith("comment:") and "not valid Unicode text" in line
        for line in done.stderr.splitlines()
    ), done.stderr
    assert "Signals\n(none)" in desk(env, "show", eid).stdout


async def test_json_nested_ten_thousand_deep_is_a_usage_error(
    env: dict[str, str], db_url: str, flows: ModuleType
) -> None:
    eid = await start_expense(db_url, flows)
    done = desk(env, "signal", eid, "decision", "--json", "[" * 10_000 + "]" * 10_000)
    assert done.returncode == 2 and "nested too deeply" in done.stderr, done.stderr
    deep = desk(env, "signal", eid, "decision", "--json", "[" * 150 + "]" * 150)
    assert deep.returncode == 1 and "nested more than 100 levels deep" in deep.stderr
    assert "Signals\n(none)" in desk(env, "show", eid).stdout


def test_sessions_lists_who_is_logged_in_and_revokes_a_persons_sessions(
    env: dict[str, str], serve: subprocess.Popen[str]
) -> None:
    login_statuses(env, [])  # once the server listens
    base = f"http://127.0.0.1:{env['STENT_PORT']}"
    with httpx.Client(base_url=base) as ann, httpx.Client(base_url=base) as bob:
        for client, name, email in (
            (ann, "Ann", "ann@example.com"),
            (bob, "Bob", "bob@example.com"),
        ):
            page = BeautifulSoup(client.get("/login").text, "html.parser")
            token = page.find("input", attrs={"name": "csrf_token"})
            assert token is not None
            fields = {"csrf_token": token["value"], "name": name, "email": email, "next": "/"}
            assert client.post("/login", data=fields).status_code == 303
        rows = desk(env, "sessions").stdout.splitlines()
        assert rows[0].split() == [
            "EMAIL",
            "NAME",
            "SUBJECT",
            "METHOD",
            "LOGGED",
            "IN",
            "LAST",
            "SEEN",
        ]
        assert [row.split()[0] for row in rows[1:]] == ["ann@example.com", "bob@example.com"]
        revoked = desk(env, "sessions", "--revoke", "ann@example.com")
        assert revoked.stdout.strip() == "Revoked 1 session of ann@example.com"
        assert ann.get("/").status_code == 303 and bob.get("/").status_code == 200
        assert [row.split()[0] for row in desk(env, "sessions").stdout.splitlines()[1:]] == [
            "bob@example.com"
        ]
