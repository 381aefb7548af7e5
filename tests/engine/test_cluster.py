"""Several worker processes on one database: each execution runs in one place at a time.

Each ``Stent`` here is a worker "process" of its own (its own worker id, connections,
lease and, on PostgreSQL, its own LISTEN connection); they share this one Python process
only so that a test can count how often each activity ran. ``test_cluster_kill.py`` does
the same with real processes and ``kill -9``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import asyncpg
import pytest
from engine_helpers import until_state, until_waiting
from patience import patience
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.ext.asyncio import create_async_engine

from app.engine import Stent, WaitClosed, leases
from app.engine.notify import libpq_dsn
from app.engine.tables import executions, workers

RUNS: dict[str, int] = {}  # activity runs per key, across every executor of a test
ONLY_POSTGRESQL = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
NO_POLL = 3600.0  # a poll interval that never comes within a test: only a notification wakes
NEVER_EXPIRES = 3600.0  # a lease that never runs out within a test


@Stent.durable()
async def record_run(key: str) -> str:
    RUNS[key] = RUNS.get(key, 0) + 1
    return key


@Stent.durable()
async def approve_then_record(key: str) -> Any:
    approval = await Stent.wait_for_signal("approval")
    await record_run(key)
    return approval


@Stent.durable()
async def nap_then_record(key: str, seconds: float) -> str:
    await Stent.sleep(seconds)
    return await record_run(key)


@Stent.durable()
async def collect(count: int) -> list[Any]:
    return [await Stent.wait_for_signal("event") for _ in range(count)]


@pytest.fixture(autouse=True)
def _no_runs() -> None:
    RUNS.clear()


@asynccontextmanager
async def cluster(db_url: str, workers: int, **options: Any) -> AsyncIterator[list[Stent]]:
    """``workers`` running executors on one database, then a client that runs no worker."""
    async with AsyncExitStack() as stack:
        members = [
            await stack.enter_async_context(
                Stent(
                    db_url,
                    poll_interval=options.get("poll_interval", 0.05),
                    lease_seconds=options.get("lease_seconds", 15.0),
                )
            )
            for _ in range(workers)
        ]
        client = await stack.enter_async_context(Stent(db_url, run_worker=False))
        yield [*members, client]


async def owners(executor: Stent, eids: list[str]) -> dict[str, str | None]:
    """Which worker owns each execution."""

    def read(conn: Connection) -> dict[str, str | None]:
        rows = conn.execute(
            select(executions.c.id, executions.c.lease_owner).where(executions.c.id.in_(eids))
        )
        return {row.id: row.lease_owner for row in rows}

    return await executor.db.read(read)  # type: ignore[no-any-return]


async def test_executions_a_non_worker_starts_are_claimed_and_each_runs_once(db_url: str) -> None:
    async with cluster(db_url, 2) as (first, second, client):
        eids = [await client.dispatch(approve_then_record, f"k{n}") for n in range(30)]
        for eid in eids:
            await until_waiting(client, eid, "approval")
        owned = await owners(client, eids)
        assert set(owned.values()) <= {first.worker_id, second.worker_id}
        for n, eid in enumerate(eids):
            await client.send_signal(eid, "approval", {"n": n})
        for n, eid in enumerate(eids):
            state = await until_state(client, eid, "completed")
            assert state.result is not None and state.result.unwrap() == {"n": n}
        assert RUNS == {f"k{n}": 1 for n in range(30)}


async def test_timers_fire_once_across_the_cluster(db_url: str) -> None:
    async with cluster(db_url, 3) as (*_workers, client):
        eids = [await client.dispatch(nap_then_record, f"t{n}", 0.3) for n in range(30)]
        for eid in eids:
            await until_state(client, eid, "completed")
        assert RUNS == {f"t{n}": 1 for n in range(30)}
        for eid in eids:
            timers = [s for s in await client.steps_of(eid) if s.kind == "timer"]
            assert [t.status for t in timers] == ["done"]


async def test_two_approvers_on_two_processes_race_on_one_wait(db_url: str) -> None:
    async with cluster(db_url, 2) as (first, second, _client):
        eid = await first.dispatch(approve_then_record, "race")
        wait = await until_waiting(second, eid, "approval")
        outcomes = await asyncio.gather(
            first.send_signal(eid, "approval", {"by": "first"}, wait_id=wait.wait_id),
            second.send_signal(eid, "approval", {"by": "second"}, wait_id=wait.wait_id),
            return_exceptions=True,
        )
        refused = [o for o in outcomes if isinstance(o, WaitClosed)]
        accepted = [o for o in outcomes if not isinstance(o, BaseException)]
        assert len(refused) == 1 and len(accepted) == 1
        result = await first.wait_for(eid, timeout=patience(10))
        assert result.unwrap() in ({"by": "first"}, {"by": "second"})
        consumed = [s for s in await first.signals_of(eid) if s.state == "consumed"]
        assert len(consumed) == 1
        assert RUNS == {"race": 1}


async def test_fifo_and_idempotency_keys_hold_across_processes(db_url: str) -> None:
    async with cluster(db_url, 2) as (first, second, client):
        eid = await first.dispatch(collect, 10)
        senders = [first, second, client]
        for n in range(10):
            await senders[n % 3].send_signal(eid, "event", n, idempotency_key=f"e{n}")
        for n in range(10):  # every retry through another process is the same signal
            receipt = await senders[(n + 1) % 3].send_signal(
                eid, "event", n, idempotency_key=f"e{n}"
            )
            assert receipt.duplicate
        assert (await first.wait_for(eid, timeout=patience(10))).unwrap() == list(range(10))


@ONLY_POSTGRESQL
async def test_a_signal_through_another_process_wakes_its_owner_by_notification(
    db_url: str,
) -> None:
    # no poll comes within the test: only LISTEN/NOTIFY can wake the owner
    async with cluster(db_url, 2, poll_interval=NO_POLL) as (owner, other, _client):
        eid = await owner.dispatch(approve_then_record, "notified")
        await until_waiting(other, eid, "approval")
        await other.send_signal(eid, "approval", {"ok": True})
        assert (await owner.wait_for(eid, timeout=patience(10))).unwrap() == {"ok": True}
        assert eid in (await owners(owner, [eid])) and RUNS == {"notified": 1}


@ONLY_POSTGRESQL
async def test_a_lost_notification_is_made_up_for_by_the_poll(db_url: str) -> None:
    async with cluster(db_url, 2, poll_interval=0.2) as (owner, other, _client):
        eid = await owner.dispatch(approve_then_record, "polled")
        await until_waiting(other, eid, "approval")
        listener = owner._worker._listener
        assert listener is not None
        await listener.stop()  # every notification from now on is lost
        await other.send_signal(eid, "approval", {"ok": True})
        assert (await owner.wait_for(eid, timeout=patience(10))).unwrap() == {"ok": True}


@ONLY_POSTGRESQL
async def test_the_listener_reconnects_when_its_connection_is_cut(db_url: str) -> None:
    async with cluster(db_url, 2, poll_interval=NO_POLL) as (owner, other, _client):
        listener = owner._worker._listener
        assert listener is not None and listener.connected.is_set()
        first = await owner.dispatch(approve_then_record, "cut")
        await until_waiting(other, first, "approval")
        admin = await asyncpg.connect(libpq_dsn(db_url))
        try:
            cut = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = $1",
                listener.name,
            )
        finally:
            await admin.close()
        assert cut == 1
        # sent while the listener is away: the poll that follows a reconnect finds it
        await other.send_signal(first, "approval", {"n": 1})
        assert (await owner.wait_for(first, timeout=patience(10))).unwrap() == {"n": 1}
        second = await owner.dispatch(approve_then_record, "after")
        await until_waiting(other, second, "approval")
        await other.send_signal(second, "approval", {"n": 2})
        assert (await owner.wait_for(second, timeout=patience(10))).unwrap() == {"n": 2}


async def test_a_stopped_worker_hands_its_executions_over_at_once(db_url: str) -> None:
    # The survivor takes a worker for dead only after NEVER_EXPIRES: whatever it takes
    # within the test's patience, the clean stop handed back (not a lease running out).
    async with cluster(db_url, 1, lease_seconds=NEVER_EXPIRES) as (survivor, client):
        leaving = Stent(db_url, poll_interval=0.05, lease_seconds=NEVER_EXPIRES)
        await leaving.start()
        eids = [await leaving.dispatch(approve_then_record, f"h{n}") for n in range(5)]
        for eid in eids:
            await until_waiting(client, eid, "approval")
        await leaving.stop()
        async with asyncio.timeout(patience(10)):
            while set((await owners(client, eids)).values()) != {survivor.worker_id}:
                await asyncio.sleep(0.02)
        for eid in eids:
            await client.send_signal(eid, "approval", {})
        for eid in eids:
            await until_state(client, eid, "completed")
        assert RUNS == {f"h{n}": 1 for n in range(5)}


@ONLY_POSTGRESQL
async def test_replicas_starting_together_on_an_empty_database_migrate_once(db_url: str) -> None:
    admin = await asyncpg.connect(libpq_dsn(db_url))
    empty = f"{admin._params.database}_empty"
    await admin.execute(f'CREATE DATABASE "{empty}"')
    try:
        url = db_url.rsplit("/", 1)[0] + f"/{empty}"
        replicas = [Stent(url, run_worker=False) for _ in range(3)]
        await asyncio.gather(*(replica.start() for replica in replicas))
        try:
            eid = await replicas[0].dispatch(collect, 1)
            assert (await replicas[2].state_of(eid)).state == "pending"
        finally:
            await asyncio.gather(*(replica.stop() for replica in replicas))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{empty}" WITH (FORCE)')
        await admin.close()


async def test_a_restart_takes_a_dead_predecessors_executions_at_once_not_a_live_ones(
    db_url: str,
) -> None:
    ended = subprocess.Popen(["true"])
    ended.wait()  # a pid whose process has ended, on this machine
    async with Stent(db_url, poll_interval=0.05) as first:
        eids = [await first.dispatch(approve_then_record, f"r{n}") for n in range(4)]
        for eid in eids:
            await until_waiting(first, eid, "approval")

    def crashed(conn: Connection) -> None:
        """As if two processes had held them and stopped without handing them back: one
        whose process is gone, one still running (this one), both with fresh heartbeats."""
        now = time.time()
        for worker, pid in (("gone", ended.pid), ("alive", os.getpid())):
            conn.execute(
                insert(workers).values(
                    id=worker,
                    host="here",
                    pid=pid,
                    machine=leases.machine(),
                    started_at=now,
                    heartbeat_at=now,
                )
            )
        for n, eid in enumerate(eids):
            conn.execute(
                update(executions)
                .where(executions.c.id == eid)
                .values(lease_owner="gone" if n < 2 else "alive")
            )

    engine = create_async_engine(db_url)
    async with engine.begin() as conn:
        await conn.run_sync(crashed)
    await engine.dispose()
    # NEVER_EXPIRES: the "gone" one's executions are taken because its process is gone,
    # the "alive" one's kept because it runs, however long the test takes (not its lease)
    async with Stent(db_url, poll_interval=0.05, lease_seconds=NEVER_EXPIRES) as restarted:
        async with asyncio.timeout(patience(5)):
            while set((await owners(restarted, eids[:2])).values()) != {restarted.worker_id}:
                await asyncio.sleep(0.02)
        assert set((await owners(restarted, eids[2:])).values()) == {"alive"}


async def test_workers_lists_every_process_with_the_executions_it_owns(db_url: str) -> None:
    async with cluster(db_url, 2) as (first, second, client):
        for member, count in ((first, 2), (second, 3)):
            for n in range(count):
                await member.dispatch(approve_then_record, f"{member.worker_id}-{n}")
        listed = {w.id: w for w in await client.workers()}
        assert set(listed) == {first.worker_id, second.worker_id}
        assert listed[first.worker_id].executions == 2
        assert listed[second.worker_id].executions == 3
        assert all(w.alive and 0 <= w.heartbeat_age < 15 for w in listed.values())
