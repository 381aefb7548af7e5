"""Crash recovery across processes: a worker killed with SIGKILL loses nothing.

Each test runs ``crash_worker`` (see that module) as a subprocess on a fresh database
(SQLite file or PostgreSQL database, see ``db_url``),
kills it with SIGKILL at a chosen point, talks to the database meanwhile through a client
``Stent(..., run_worker=False)``, starts a new worker and checks the outcome and the side
effects its activities wrote to the journal.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import crash_worker
import pytest
from engine_helpers import until_open_wait

from app.engine import Stent

ENGINE_DIR = Path(__file__).resolve().parent
REPO_ROOT = ENGINE_DIR.parent.parent


class Workers:
    """Starts ``crash_worker`` processes on one database and journal; kills them all at the end."""

    def __init__(self, tmp_path: Path, db_url: str) -> None:
        self.tmp_path = tmp_path
        self.db_url = db_url
        self.journal = tmp_path / "journal.txt"
        self.procs: list[subprocess.Popen[bytes]] = []
        env = dict(os.environ)
        path = [str(ENGINE_DIR), str(REPO_ROOT)]
        if env.get("PYTHONPATH"):
            path.append(env["PYTHONPATH"])
        env["PYTHONPATH"] = os.pathsep.join(path)
        self.env = env

    def start(self, *dispatch: str) -> subprocess.Popen[bytes]:
        """A worker that resumes everything (and first dispatches, given WORKFLOW ARGS_JSON)."""
        n = len(self.procs)
        command = [sys.executable, "-m", "crash_worker", "--url", self.db_url,
                   "--journal", str(self.journal)]
        if dispatch:
            command += ["--dispatch", *dispatch]
        with open(self.out(n), "wb") as out, open(self.err(n), "wb") as err:
            proc = subprocess.Popen(command, cwd=ENGINE_DIR, env=self.env, stdout=out,
                                    stderr=err, stdin=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    async def dispatch(self, workflow: str, args_json: str) -> tuple[subprocess.Popen[bytes], str]:
        """Start a worker that dispatches ``workflow``; returns it and the execution id."""
        proc = self.start(workflow, args_json)
        out = self.out(len(self.procs) - 1)
        async with asyncio.timeout(15):
            while True:
                text = out.read_text()
                if text.endswith("\n"):
                    return proc, text.strip()
                assert proc.poll() is None, f"the worker exited: {self.stderr_of(proc)}"
                await asyncio.sleep(0.02)

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL a worker of ours (it must still be running) and reap it."""
        assert proc.poll() is None, f"the worker had already exited: {self.stderr_of(proc)}"
        proc.kill()
        proc.wait(timeout=10)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)

    def out(self, n: int) -> Path:
        return self.tmp_path / f"worker-{n}.out"

    def err(self, n: int) -> Path:
        return self.tmp_path / f"worker-{n}.err"

    def stderr_of(self, proc: subprocess.Popen[bytes]) -> str:
        return self.err(self.procs.index(proc)).read_text()

    def lines(self) -> list[str]:
        """The journal: what the activities did, in every process so far."""
        if not self.journal.exists():
            return []
        return self.journal.read_text().splitlines()

    def release(self) -> None:
        """Let the ``blocking`` activity finish."""
        crash_worker.release_file(self.journal).touch()


@pytest.fixture
def workers(tmp_path: Path, db_url: str) -> Iterator[Workers]:
    running = Workers(tmp_path, db_url)
    try:
        yield running
    finally:
        running.close()


@asynccontextmanager
async def client(db_url: str) -> AsyncIterator[Stent]:
    """Reads and sends only: resumes nothing in the test process."""
    async with Stent(db_url, run_worker=False, poll_interval=0.05) as executor:
        yield executor


async def until_journal(workers: Workers, line: str, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while line not in workers.lines():
            await asyncio.sleep(0.01)


async def until_step(executor: Stent, eid: str, kind: str, timeout: float = 10.0) -> Any:
    """The first recorded step of ``kind``, once there is one."""
    async with asyncio.timeout(timeout):
        while True:
            for recorded in await executor.steps_of(eid):
                if recorded.kind == kind:
                    return recorded
            await asyncio.sleep(0.01)


async def test_kill_while_waiting_then_signal_while_down(workers: Workers, db_url: str):
    worker, eid = await workers.dispatch("approve_between", '["x"]')
    async with client(db_url) as executor:
        await until_open_wait(executor, eid, "approval")
        workers.kill(worker)

        receipt = await executor.send_signal(eid, "approval", {"ok": True})
        assert (receipt.seq, receipt.duplicate) == (1, False)
        stored = await executor.signals_of(eid)
        assert [(s.payload, s.state) for s in stored] == [({"ok": True}, "consumed")]
        assert not (await executor.state_of(eid)).finished
        assert workers.lines() == ["start A x", "end A x"]

        workers.start()
        result = await executor.wait_for(eid, timeout=10)
    assert result.unwrap() == {"a": "A:x", "approval": {"ok": True}, "b": "B:x"}
    assert workers.lines() == ["start A x", "end A x", "start B x", "end B x"]


async def test_kill_mid_activity_reruns_only_the_interrupted_activity(workers: Workers,
                                                                      db_url: str):
    worker, eid = await workers.dispatch("then_block", '["y"]')
    await until_journal(workers, "start B y")
    workers.kill(worker)
    assert workers.lines() == ["start A y", "end A y", "start B y"]

    workers.release()
    workers.start()
    async with client(db_url) as executor:
        result = await executor.wait_for(eid, timeout=10)
        steps = await executor.steps_of(eid)
    assert result.unwrap() == ["A:y", "B:y"]
    lines = workers.lines()
    assert (lines.count("start A y"), lines.count("end A y")) == (1, 1)
    assert (lines.count("start B y"), lines.count("end B y")) == (2, 1)  # at least once
    assert [(s.kind, s.status) for s in steps] == [("activity", "done"), ("activity", "done")]


async def test_kill_with_a_timer_keeps_its_deadline(workers: Workers, db_url: str):
    worker, eid = await workers.dispatch("nap", "[1.5]")
    async with client(db_url) as executor:
        timer = await until_step(executor, eid, "timer")
        workers.kill(worker)
        assert timer.deadline is not None and time.time() < timer.deadline
        await asyncio.sleep(max(0.0, timer.deadline - time.time()) + 0.1)  # passes while down

        started = time.monotonic()
        workers.start()
        result = await executor.wait_for(eid, timeout=10)
        elapsed = time.monotonic() - started  # process start-up plus a prompt firing
        steps = await executor.steps_of(eid)
    assert result.unwrap() == "after-sleep:1.5", f"after {elapsed:.2f} s"
    assert (steps[0].kind, steps[0].status) == ("timer", "done")
    assert steps[0].deadline == timer.deadline
    assert workers.lines() == ["start after-sleep 1.5", "end after-sleep 1.5"]


async def test_signals_sent_while_down_are_delivered_in_order(workers: Workers, db_url: str):
    worker, eid = await workers.dispatch("webhook", '["event", 3]')
    async with client(db_url) as executor:
        await until_open_wait(executor, eid, "event")
        workers.kill(worker)

        receipts = [await executor.send_signal(eid, "event", {"n": n}) for n in range(3)]
        assert [r.seq for r in receipts] == [1, 2, 3]

        workers.start()
        result = await executor.wait_for(eid, timeout=10)
        signals = await executor.signals_of(eid)
    assert result.unwrap() == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert [s.payload for s in signals] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert [s.state for s in signals] == ["consumed"] * 3
    steps = [s.consumed_by_step for s in signals]
    assert steps == sorted(steps) and len(set(steps)) == 3
