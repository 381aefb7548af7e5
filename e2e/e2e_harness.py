"""What the browser tests drive: the server process, a client executor, the browser's errors.

Plain classes and functions; `conftest.py` turns them into fixtures. Tests import the
classes from here for their type hints (importing `conftest` itself is fragile).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from patience import patience
from playwright.sync_api import BrowserContext, ConsoleMessage, Response, WebError
from processes import healthy, stop, wait_until

from app.engine import ExecutionState, SignalReceipt, SignalRecord, Stent, WaitInfo

ROOT = Path(__file__).resolve().parents[1]
STENT_DESK = ROOT / ".venv" / "bin" / "stent-desk"
EXCEPTION_LINE = re.compile(r"^[\w.]+(Error|Exception|Exit)\b.*:")  # a traceback's last
WORKFLOW_MODULES = (
    "workflows.approval",
    "workflows.purchase_approval",
    "workflows.approval_with_timeout",
)


# ---------------------------------------------------------------------------- the server
@dataclass(frozen=True)
class Server:
    """The dashboard under test: where it listens, its database and its log."""

    url: str
    database_url: str
    log: Path

    def errors_since(self, offset: int) -> list[str]:
        """Error lines and exception lines the server logged after ``offset`` bytes."""
        with self.log.open("rb") as file:
            file.seek(offset)
            lines = file.read().decode(errors="replace").splitlines()
        return [
            line
            for line in lines
            if " ERROR " in line or line.startswith("ERROR:") or EXCEPTION_LINE.match(line)
        ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(
    tmp: Path, port: int | None = None, settings: Mapping[str, str] | None = None
) -> Iterator[Server]:
    """`stent-desk serve` on a fresh SQLite file in ``tmp`` and a free port (or ``port``:
    single sign-on needs it known before the provider starts), until exit. ``settings``:
    more STENT_* variables."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    database_url = f"sqlite+aiosqlite:///{tmp / 'desk.db'}"
    env = {
        **os.environ,
        "STENT_DATABASE_URL": database_url,
        "STENT_HOST": "127.0.0.1",
        "STENT_PORT": str(port),
        "STENT_WORKFLOW_MODULES": ",".join(WORKFLOW_MODULES),
        "STENT_DESK_ENV": "development",
        "STENT_DEV_LOGIN": "true",
        "STENT_SQLITE_SYNCHRONOUS": "NORMAL",
        "STENT_INBOX_REFRESH_SECONDS": "1",
        "STENT_SECRET_KEY": "e2e-only-secret-key-e2e-only-secret-key",
        # every test logs people in from 127.0.0.1: the login rate limit is not tested here
        "STENT_LOGIN_RATE_LIMIT": "1000/minute",
        **(settings or {}),
    }
    log = tmp / "server.log"
    with log.open("wb") as out:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [str(STENT_DESK), "serve"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(healthy(url), process, log, "stent-desk serve", timeout=20)
        yield Server(url, database_url, log)
    finally:
        stop(process)


# ---------------------------------------------------------------------------- executions
class Engine:
    """A client executor on the server's database, run on its own event loop in a thread.

    It starts executions and sends signals as another process would (the server notices
    them within its poll interval) and reads states to know when to look at the page.
    Its own loop, because Playwright's sync API owns the test thread's.
    """

    def __init__(self, database_url: str) -> None:
        for module in WORKFLOW_MODULES:  # registered here too: names resolve, schemas validate
            importlib.import_module(module)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="e2e-engine", daemon=True
        )
        self._thread.start()
        self.stent = Stent(database_url, run_worker=False, sqlite_synchronous="NORMAL")
        self._run(self.stent.start())

    def _run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=patience(15))

    def start(
        self, workflow: str, *args: Any, initiator: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> str:
        """Start ``workflow`` (a registered name) as ``initiator`` (the suite by default);
        its execution id."""
        initiator = initiator or {"name": "E2E suite", "email": "e2e@example.com"}
        return str(
            self._run(
                self.stent.start_execution(
                    workflow, args=list(args), kwargs=kwargs, initiator=initiator
                )
            )
        )

    def state(self, eid: str) -> ExecutionState:
        """The execution as the database has it now."""
        state: ExecutionState = self._run(self.stent.state_of(eid))
        return state

    def signals(self, eid: str) -> list[SignalRecord]:
        """Every signal the execution received."""
        signals: list[SignalRecord] = self._run(self.stent.signals_of(eid))
        return signals

    def send(self, wait: WaitInfo, payload: Any, sender: dict[str, Any]) -> SignalReceipt:
        """Answer ``wait`` from outside the browser (another system, or the CLI)."""
        receipt: SignalReceipt = self._run(
            self.stent.send_signal(
                wait.execution_id, wait.name, payload, wait_id=wait.wait_id, sender=sender
            )
        )
        return receipt

    def until(
        self, eid: str, done: Callable[[ExecutionState], bool], what: str, timeout: float = 10
    ) -> ExecutionState:
        """Poll the execution until ``done(state)``; fail saying ``what`` did not happen."""
        deadline = time.monotonic() + patience(timeout)
        while True:
            state = self.state(eid)
            if done(state):
                return state
            if time.monotonic() > deadline:
                pytest.fail(
                    f"execution {eid} never {what}; it is {state.state}, "
                    f"waiting on {[w.name for w in state.waiting_on]}"
                )
            time.sleep(0.05)

    def open_wait(self, eid: str) -> WaitInfo:
        """Wait until the server has run the execution up to its (first) open wait."""
        return self.until(eid, lambda s: bool(s.waiting_on), "opened a wait").waiting_on[0]

    def finished(self, eid: str, timeout: float = 10) -> ExecutionState:
        """Wait until the execution finished."""
        return self.until(eid, lambda s: s.finished, "finished", timeout)

    def close(self) -> None:
        self._run(self.stent.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=patience(10))
        self._loop.close()


# ---------------------------------------------------------------------------- the browser
@dataclass
class BrowserProblems:
    """Console errors, uncaught page errors and 5xx responses seen by watched contexts.

    ``expected_statuses`` lists HTTP error statuses a test provokes on purpose (422 for a
    form with errors, 409 for an answer that came too late); Chromium logs each such
    response as a console error, which is not a fault of the page.
    """

    problems: list[str] = field(default_factory=list)
    expected_statuses: set[int] = field(default_factory=set)

    def watch(self, context: BrowserContext) -> BrowserContext:
        context.on("console", self._console)
        context.on("weberror", self._web_error)
        context.on("response", self._response)
        return context

    def expect_status(self, *statuses: int) -> None:
        """The test provokes responses with these statuses on purpose."""
        self.expected_statuses.update(statuses)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        if any(f"status of {status} " in message.text for status in self.expected_statuses):
            return
        url = message.location.get("url", "") if message.location else ""
        self.problems.append(f"console error: {message.text} ({url})")

    def _web_error(self, error: WebError) -> None:
        where = error.page.url if error.page else "?"
        self.problems.append(f"uncaught error on {where}: {error.error}")

    def _response(self, response: Response) -> None:
        if response.status >= 500:
            self.problems.append(f"{response.status} from {response.request.method} {response.url}")

    def check(self) -> None:
        """Raise ``AssertionError`` listing every problem seen."""
        if self.problems:
            raise AssertionError("the browser saw problems:\n  " + "\n  ".join(self.problems))


# ---------------------------------------------------------------------------- axe-core
SERIOUS = ("serious", "critical")


def describe_violation(violation: dict[str, Any]) -> str:
    """An axe violation as a few readable lines: rule, impact, help, the elements."""
    lines = [
        f"[{violation['impact']}] {violation['id']}: {violation['help']} ({violation['helpUrl']})"
    ]
    for node in violation["nodes"][:5]:
        lines.append(f"    at {json.dumps(node['target'])}: {node['html'][:160]}")
        summary = (node.get("failureSummary") or "").replace("\n", "\n      ")
        lines.append(f"      {summary}")
    if len(violation["nodes"]) > 5:
        lines.append(f"    ... and {len(violation['nodes']) - 5} more elements")
    return "\n".join(lines)
