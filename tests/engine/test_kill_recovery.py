"""Crash recovery across processes: a worker killed with SIGKILL loses nothing.

Each test runs ``crash_worker`` (see that module) as a subprocess on a fresh database
(SQLite file or PostgreSQL database, see ``db_url``),
kills it with SIGKILL at a chosen point, talks to the database meanwhile through a client
``Stent(..., run_worker=False)``, starts a new worker and checks the outcome and the side
effects its activities wrote to the journal.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import until_open_wait
from patience import patience
from worker_procs import Workers, until_journal

from app.engine import Stent


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


async def until_step(executor: Stent, eid: str, kind: str, timeout: float = 10.0) -> Any:
    """The first recorded step of ``kind``, once there is one."""
    async with asyncio.timeout(patience(timeout)):
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
        result = await executor.wait_for(eid, timeout=patience(10))
    assert result.unwrap() == {"a": "A:x", "approval": {"ok": True}, "b": "B:x"}
    assert workers.lines() == ["start A x", "end A x", "start B x", "end B x"]


async def test_kill_mid_activity_reruns_only_the_interrupted_activity(
    workers: Workers, db_url: str
):
    worker, eid = await workers.dispatch("then_block", '["y"]')
    await until_journal(workers, "start B y")
    workers.kill(worker)
    assert workers.lines() == ["start A y", "end A y", "start B y"]

    workers.release()
    workers.start()
    async with client(db_url) as executor:
        result = await executor.wait_for(eid, timeout=patience(10))
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
        result = await executor.wait_for(eid, timeout=patience(10))
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
        result = await executor.wait_for(eid, timeout=patience(10))
        signals = await executor.signals_of(eid)
    assert result.unwrap() == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert [s.payload for s in signals] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert [s.state for s in signals] == ["consumed"] * 3
    steps = [s.consumed_by_step for s in signals]
    assert steps == sorted(steps) and len(set(steps)) == 3
