"""Real worker processes on PostgreSQL: one is killed or frozen, the others take over.

The workers are ``crash_worker`` subprocesses; the test process is the sender (it runs no
worker). Leases are short here (3 s on an idle machine) so that takeovers come within a
test's patience, and stretched like every patience (tests/patience.py): on a busy machine
a live worker's heartbeat comes late, and with a lease too short for it the survivors take
each other's executions too.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from patience import patience, until_progress
from sqlalchemy import Connection, func, select
from worker_procs import Workers, until_journal

from app.engine import Stent
from app.engine.tables import executions, signals, workers

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
LEASE = patience(3.0)
EXECUTIONS = 2000
SENDERS = 50  # signals in flight at once


@pytest.fixture
def procs(tmp_path: Path, db_url: str) -> Iterator[Workers]:
    running = Workers(tmp_path, db_url)
    try:
        yield running
    finally:
        running.close()


async def read(executor: Stent, fn: Any) -> Any:
    return await executor.db.read(fn)


async def worker_ids(executor: Stent, count: int) -> dict[int, str]:
    """pid -> worker id, once ``count`` workers have registered."""
    async with asyncio.timeout(patience(30)):
        while True:
            rows = await read(
                executor, lambda conn: conn.execute(select(workers.c.pid, workers.c.id)).all()
            )
            if len(rows) >= count:
                return {row.pid: row.id for row in rows}
            await asyncio.sleep(0.05)


def refused(stderr: str) -> bool:
    """A woken worker said that it no longer owns what it ran: refused on a write of the
    execution, or on its heartbeat (a busy machine decides which it tries first)."""
    return "lease lost" in stderr or "missed its lease" in stderr


async def count_where(executor: Stent, *conditions: Any) -> int:
    def count(conn: Connection) -> int:
        return int(
            conn.execute(
                select(func.count()).select_from(executions).where(*conditions)
            ).scalar_one()
        )

    return await read(executor, count)  # type: ignore[no-any-return]


async def send_all(executor: Stent, eids: list[str], name: str, midway: Any = None) -> None:
    """Signal ``name`` to every execution, ``SENDERS`` at a time; ``midway()`` once half
    of them are sent."""
    queue = list(enumerate(eids))
    half = len(queue) // 2
    sent = 0

    async def sender() -> None:
        nonlocal sent
        while queue:
            n, eid = queue.pop(0)
            await executor.send_signal(eid, name, {"n": n, "name": name})
            sent += 1
            if sent == half and midway is not None:
                await midway()

    await asyncio.gather(*(sender() for _ in range(SENDERS)))


async def test_three_workers_one_killed_midway_every_execution_completes_once(
    procs: Workers, db_url: str
) -> None:
    for _ in range(3):
        procs.start(lease=LEASE)
    async with Stent(db_url, run_worker=False) as sender:
        ids = await worker_ids(sender, 3)
        victim_proc = procs.procs[0]
        victim = ids[victim_proc.pid]
        eids = list(
            await asyncio.gather(
                *(
                    sender.start_execution("crash_worker.two_signals", args=[n])
                    for n in range(EXECUTIONS)
                )
            )
        )
        # claimed and replayed up to their first wait: slow on a busy machine, but moving
        await until_progress(
            lambda: sender.count_waiting(name="first"),
            lambda waiting: waiting >= EXECUTIONS,
            f"{EXECUTIONS} executions waiting on 'first'",
            interval=0.1,
        )
        owned = Counter(
            (
                await read(
                    sender,
                    lambda conn: dict(
                        conn.execute(select(executions.c.id, executions.c.lease_owner)).all()
                    ),
                )
            ).values()
        )
        assert owned[victim] > 0, f"the victim owns nothing: {owned}"

        killed: dict[str, Any] = {}

        async def kill_victim() -> None:
            victim_proc.send_signal(signal.SIGKILL)
            killed["at"] = time.time()
            killed["heartbeat"] = await read(
                sender,
                lambda conn: conn.execute(
                    select(workers.c.heartbeat_at).where(workers.c.id == victim)
                ).scalar_one(),
            )
            killed["orphans"] = await read(
                sender,
                lambda conn: (
                    conn.execute(
                        select(executions.c.id).where(
                            executions.c.lease_owner == victim, executions.c.state != "completed"
                        )
                    )
                    .scalars()
                    .all()
                ),
            )

        await send_all(sender, eids, "first")
        await send_all(sender, eids, "second", midway=kill_victim)
        victim_proc.wait(timeout=patience(10))

        # the count stands still while the victim's lease runs out, then moves again
        await until_progress(
            lambda: count_where(sender, executions.c.state == "completed"),
            lambda completed: completed >= EXECUTIONS,
            f"{EXECUTIONS} executions completed",
            stall=LEASE * 2 + 10,
            interval=0.2,
        )

        results = await read(
            sender,
            lambda conn: dict(conn.execute(select(executions.c.id, executions.c.result)).all()),
        )
        for n, eid in enumerate(eids):
            assert json.loads(results[eid]) == {
                "kind": "value",
                "value": [{"n": n, "name": "first"}, {"n": n, "name": "second"}],
            }
        consumed = await read(
            sender,
            lambda conn: conn.execute(
                select(
                    signals.c.execution_id,
                    signals.c.name,
                    signals.c.state,
                    signals.c.consumed_by_step,
                )
            ).all(),
        )
        assert len(consumed) == 2 * EXECUTIONS
        assert {row.state for row in consumed} == {"consumed"}
        assert (
            Counter((r.execution_id, r.consumed_by_step) for r in consumed).most_common(1)[0][1]
            == 1
        ), "a wait consumed two signals"
        done = Counter(line.split()[2] for line in procs.lines() if line.startswith("end done"))
        assert set(done) == {str(n) for n in range(EXECUTIONS)}

        # the first of the victim's unfinished executions that a survivor took
        taken = await read(
            sender,
            lambda conn: conn.execute(
                select(func.min(executions.c.leased_at)).where(
                    executions.c.id.in_(killed["orphans"]),
                    executions.c.lease_owner != victim,
                    executions.c.leased_at > killed["at"],
                )
            ).scalar_one(),
        )
        print(
            f"\nvictim owned {owned[victim]} of {EXECUTIONS}; {len(killed['orphans'])} unfinished "
            f"at the kill; first takeover {taken - killed['at']:.2f} s after it and "
            f"{taken - killed['heartbeat']:.2f} s after its last heartbeat (lease {LEASE} s)"
        )
        assert killed["orphans"]
        # never before the lease ran out (both times are the database's clock), and within
        # one lease and one check after the kill (and the slack a busy machine needs)
        assert taken >= killed["heartbeat"] + LEASE
        assert taken - killed["at"] <= LEASE + LEASE / 3 + patience(1.0)


async def test_a_frozen_worker_cannot_write_over_the_one_that_took_over(
    procs: Workers, db_url: str, tmp_path: Path
) -> None:
    frozen, eid = await procs.dispatch("then_block", '["x"]')
    await until_journal(procs, "start B x")
    procs.start(lease=LEASE)  # before the freeze: it takes over when the lease runs out
    os.kill(frozen.pid, signal.SIGSTOP)
    try:
        # the new owner replays and runs B again (an activity interrupted by a lost lease
        # runs again: at least once), then both are let go
        async with asyncio.timeout(patience(LEASE * 4)):
            while procs.lines().count("start B x") < 2:
                await asyncio.sleep(0.05)
        procs.release()
    finally:
        os.kill(frozen.pid, signal.SIGCONT)
    async with Stent(db_url, run_worker=False) as client:
        result = await client.wait_for(eid, timeout=patience(20))
        assert result.unwrap() == ["A:x", "B:x"]
        steps = await client.steps_of(eid)
        assert [(s.kind, s.name, s.status) for s in steps] == [
            ("activity", "crash_worker.step", "done"),
            ("activity", "crash_worker.blocking", "done"),
        ]
        # the frozen one woke, finished B, was refused and says so: its activity's write
        # ("lease lost") or its heartbeat ("missed its lease"), whichever it tried first
        async with asyncio.timeout(patience(10)):
            while procs.lines().count("end B x") < 2:
                await asyncio.sleep(0.05)
        async with asyncio.timeout(patience(5)):
            while not refused(procs.stderr_of(frozen)):
                await asyncio.sleep(0.05)
        assert (await client.state_of(eid)).state == "completed"
