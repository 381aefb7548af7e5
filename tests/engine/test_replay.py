"""Replay: evicted or restarted executions resume from their history, deterministically."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from engine_helpers import until_open_wait
from patience import patience

from app.engine import NondeterminismError, NotInWorkflow, RetryPolicy, Stent

CALLS: list[str] = []
FLAKY_FAILURES: dict[str, int] = {}
BRANCH = {"extra_step": False}


@Stent.durable()
async def record(what: str) -> str:
    CALLS.append(what)
    return what.upper()


@Stent.durable(retry=RetryPolicy(max_attempts=3, initial_backoff=0.01))
async def flaky(key: str, failures: int) -> str:
    CALLS.append(f"flaky {key}")
    if FLAKY_FAILURES.get(key, 0) < failures:
        FLAKY_FAILURES[key] = FLAKY_FAILURES.get(key, 0) + 1
        raise ConnectionError(f"attempt {FLAKY_FAILURES[key]} failed")
    return "ok"


@Stent.durable()
async def prepare_then_wait() -> list[Any]:
    first = await record("before")
    answer = await Stent.wait_for_signal("go")
    second = await record("after")
    return [first, answer, second]


@Stent.durable()
async def race_then_wait() -> dict[str, Any]:
    done, pending = await asyncio.wait(
        [
            asyncio.create_task(Stent.wait_for_signal("approval")),
            asyncio.create_task(Stent.sleep(3600)),
        ],
        return_when=asyncio.FIRST_COMPLETED,
    )
    for task in pending:
        task.cancel()
    won = done.pop().result()
    await record("raced")
    return {"won": won, "then": await Stent.wait_for_signal("next")}


@Stent.durable()
async def timer_race_then_wait(seconds: float) -> dict[str, Any]:
    waiter = asyncio.create_task(Stent.wait_for_signal("approval"))
    timer = asyncio.create_task(Stent.sleep(seconds))
    done, _ = await asyncio.wait([waiter, timer], return_when=asyncio.FIRST_COMPLETED)
    if waiter not in done:
        waiter.cancel()
    return {"timed_out": timer in done, "then": await Stent.wait_for_signal("next")}


@Stent.durable()
async def branching() -> str:
    if BRANCH["extra_step"]:
        await Stent.sleep(1)
    await Stent.wait_for_signal("go")
    return "finished"


@Stent.durable()
async def uses_flaky(failures: int) -> str:
    try:
        outcome = await flaky("w", failures)
    except ConnectionError as exc:
        outcome = f"gave up: {exc}"
    await Stent.wait_for_signal("go")
    return outcome


@pytest.fixture(autouse=True)
def _clean() -> None:
    CALLS.clear()
    FLAKY_FAILURES.clear()
    BRANCH["extra_step"] = False


async def test_an_evicted_execution_replays_without_rerunning_activities(executor: Stent):
    eid = await executor.dispatch(prepare_then_wait)
    await until_open_wait(executor, eid, "go")
    assert await executor.evict(eid)
    assert eid not in executor.resident()
    await executor.send_signal(eid, "go", "yes")
    assert (await executor.wait_for(eid, timeout=patience(10))).unwrap() == [
        "BEFORE",
        "yes",
        "AFTER",
    ]
    assert CALLS == ["before", "after"]


async def test_idle_executions_leave_memory_and_come_back_on_their_signal(db_url: str):
    async with Stent(db_url, idle_eviction_seconds=0, poll_interval=0.02) as executor:
        ids = [await executor.dispatch(prepare_then_wait) for _ in range(5)]
        for eid in ids:
            await until_open_wait(executor, eid, "go")
        async with asyncio.timeout(patience(5)):
            while executor.resident():
                await asyncio.sleep(0.02)
        for eid in ids:
            await executor.send_signal(eid, "go", eid)
        results = [(await executor.wait_for(eid, timeout=patience(10))).unwrap() for eid in ids]
        assert [r[1] for r in results] == ids
        assert CALLS.count("before") == 5


async def test_at_most_max_resident_executions_stay_in_memory(db_url: str):
    async with Stent(db_url, max_resident=4) as executor:
        ids = [await executor.dispatch(prepare_then_wait) for _ in range(12)]
        for eid in ids:
            await until_open_wait(executor, eid, "go")
        async with asyncio.timeout(patience(5)):  # the cap is enforced soon after a burst of starts
            while len(executor.resident()) > 4:
                await asyncio.sleep(0.01)
        for eid in ids:
            await executor.send_signal(eid, "go", 1)
        for eid in ids:
            assert (await executor.wait_for(eid, timeout=patience(10))).ok
        assert CALLS.count("before") == 12


async def test_eviction_drops_every_task_the_workflow_spawned(executor: Stent):
    eid = await executor.dispatch(race_then_wait)
    await until_open_wait(executor, eid, "approval")
    before = {t for t in asyncio.all_tasks() if not t.done()}
    assert await executor.evict(eid)
    async with asyncio.timeout(patience(5)):  # the workflow and both racing tasks are gone
        while len(before - {t for t in asyncio.all_tasks() if not t.done()}) < 3:
            await asyncio.sleep(0.01)
    assert (await executor.state_of(eid)).state == "running"


@pytest.mark.parametrize("evict", [False, True])
async def test_a_won_race_replays_the_same_way_after_a_restart(db_url: str, evict: bool):
    async with Stent(db_url) as executor:
        eid = await executor.dispatch(race_then_wait)
        await until_open_wait(executor, eid, "approval")
        await executor.send_signal(eid, "approval", "approved")
        await until_open_wait(executor, eid, "next")
        if evict:
            assert await executor.evict(eid)
            await executor.send_signal(eid, "next", "done")
            result = await executor.wait_for(eid, timeout=patience(10))
    if not evict:
        async with Stent(db_url) as executor:
            await executor.send_signal(eid, "next", "done")
            result = await executor.wait_for(eid, timeout=patience(10))
    assert result.unwrap() == {"won": "approved", "then": "done"}
    assert CALLS == ["raced"]


async def test_a_timer_that_won_replays_the_same_way_and_the_late_signal_waits(db_url: str):
    async with Stent(db_url) as executor:
        eid = await executor.dispatch(timer_race_then_wait, 0.05)
        await until_open_wait(executor, eid, "next")
    async with Stent(db_url) as executor:
        await executor.send_signal(eid, "approval", "too late")
        await executor.send_signal(eid, "next", "done")
        result = await executor.wait_for(eid, timeout=patience(10))
        assert result.unwrap() == {"timed_out": True, "then": "done"}
        kinds = [(s.kind, s.status) for s in await executor.steps_of(eid)]
        assert kinds == [("wait", "cancelled"), ("timer", "done"), ("wait", "done")]
        states = [(s.name, s.state) for s in await executor.signals_of(eid)]
        assert states == [("approval", "unconsumed"), ("next", "consumed")]


async def test_a_changed_path_fails_with_a_nondeterminism_error(db_url: str):
    async with Stent(db_url) as executor:
        eid = await executor.dispatch(branching)
        await until_open_wait(executor, eid, "go")
    BRANCH["extra_step"] = True  # the code changed while the execution waited
    async with Stent(db_url) as executor:
        result = await executor.wait_for(eid, timeout=patience(10))
        assert not result.ok
        assert isinstance(result.error, NondeterminismError)
        message = str(result.error)
        assert "wait 'go'" in message and "timer 'sleep'" in message
        assert (await executor.state_of(eid)).state == "failed"


async def test_an_activity_is_retried_by_its_policy(executor: Stent):
    eid = await executor.dispatch(uses_flaky, 2)
    await until_open_wait(executor, eid, "go")
    await executor.send_signal(eid, "go", 1)
    assert (await executor.wait_for(eid, timeout=patience(10))).unwrap() == "ok"
    assert CALLS == ["flaky w"] * 3
    steps = await executor.steps_of(eid)
    assert (steps[0].status, steps[0].attempts) == ("done", 3)


async def test_a_final_activity_failure_is_the_callers_exception_also_on_replay(
    executor: Stent,
):
    eid = await executor.dispatch(uses_flaky, 5)
    await until_open_wait(executor, eid, "go")
    assert CALLS == ["flaky w"] * 3
    assert await executor.evict(eid)
    await executor.send_signal(eid, "go", 1)
    assert (
        await executor.wait_for(eid, timeout=patience(10))
    ).unwrap() == "gave up: attempt 3 failed"
    assert CALLS == ["flaky w"] * 3  # the replay raised the recorded error, ran nothing
    assert (await executor.steps_of(eid))[0].error["type"] == "ConnectionError"


async def test_workflow_calls_outside_an_execution_are_refused() -> None:
    with pytest.raises(NotInWorkflow):
        await Stent.wait_for_signal("approval")
    with pytest.raises(NotInWorkflow):
        await Stent.sleep(1)


async def test_a_durable_function_called_outside_an_execution_just_runs() -> None:
    assert await record("plain") == "PLAIN"
    assert CALLS == ["plain"]
