"""The signal semantics the executor promises: FIFO, exactly once, nothing lost."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from engine_helpers import until_open_wait, until_state
from patience import patience

from app.engine import (
    ExecutionFinished,
    ExecutionNotFound,
    IdempotencyKeyConflict,
    Result,
    SignalTimeout,
    SignalValidationError,
    Stent,
)

AMOUNT_SCHEMA = {
    "type": "object",
    "properties": {"amount": {"type": "integer", "minimum": 0}, "note": {"type": "string"}},
    "required": ["amount"],
}


@Stent.durable()
async def collect(name: str, count: int) -> list[Any]:
    """Waits on one name ``count`` times in a loop, as the document's webhook processor."""
    return [await Stent.wait_for_signal(name) for _ in range(count)]


@Stent.durable()
async def two_waiters() -> list[Any]:
    first = asyncio.create_task(Stent.wait_for_signal("go"))
    await asyncio.sleep(0)
    second = asyncio.create_task(Stent.wait_for_signal("go"))
    return [await first, await second]


@Stent.durable(signals={"pay": AMOUNT_SCHEMA})
async def declared_schema() -> Any:
    return await Stent.wait_for_signal("pay")


@Stent.durable()
async def wait_schema() -> Any:
    return await Stent.wait_for_signal("pay", schema=AMOUNT_SCHEMA, title="Pay")


@Stent.durable()
async def race(seconds: float) -> Any:
    """The document's timeout-with-signal pattern."""
    done, pending = await asyncio.wait(
        [
            asyncio.create_task(Stent.wait_for_signal("approval")),
            asyncio.create_task(Stent.sleep(seconds)),
        ],
        return_when=asyncio.FIRST_COMPLETED,
    )
    for task in pending:
        task.cancel()
    result = done.pop().result()
    if result is None:
        later = await Stent.wait_for_signal("after")
        return {"timed_out": True, "after": later}
    return result


@Stent.durable()
async def builtin_timeout(seconds: float, use_default: bool) -> Any:
    if use_default:
        return await Stent.wait_for_signal("approval", timeout=seconds, default="no answer")
    try:
        return await Stent.wait_for_signal("approval", timeout=seconds)
    except SignalTimeout as exc:
        return f"timed out: {exc.name}"


@Stent.durable()
async def gated() -> Any:
    await Stent.wait_for_signal("gate")
    return await Stent.wait_for_signal("x")


@Stent.durable()
async def quick() -> str:
    return "done"


async def test_signals_sent_before_the_wait_are_buffered_and_taken_in_order(executor: Stent):
    eid = await executor.dispatch(collect, "event", 3)
    for n in range(3):
        await executor.send_signal(eid, "event", {"n": n})
    assert (await executor.wait_for(eid, timeout=patience(10))).unwrap() == [
        {"n": 0},
        {"n": 1},
        {"n": 2},
    ]
    assert [s.state for s in await executor.signals_of(eid)] == ["consumed"] * 3


async def test_a_loop_on_one_name_sees_every_event_once_in_order(executor: Stent):
    eid = await executor.dispatch(collect, "event", 6)
    await until_open_wait(executor, eid, "event")
    await asyncio.gather(*(executor.send_signal(eid, "event", n) for n in range(3)))
    await executor.send_signal(eid, "event", 3)
    await asyncio.gather(*(executor.send_signal(eid, "event", n) for n in range(4, 6)))
    received = (await executor.wait_for(eid, timeout=patience(10))).unwrap()
    assert sorted(received) == list(range(6))
    signals = await executor.signals_of(eid)
    # FIFO: the k-th wait consumed the k-th accepted signal
    assert [s.payload for s in signals] == received
    assert [s.consumed_by_step for s in signals] == sorted(s.consumed_by_step for s in signals)


async def test_of_two_concurrent_waits_the_first_started_gets_the_first_signal(executor: Stent):
    eid = await executor.dispatch(two_waiters)
    async with asyncio.timeout(patience(10)):
        while len((await executor.state_of(eid)).waiting_on) < 2:
            await asyncio.sleep(0.01)
    await executor.send_signal(eid, "go", "first")
    await executor.send_signal(eid, "go", "second")
    assert (await executor.wait_for(eid, timeout=patience(10))).unwrap() == ["first", "second"]


async def test_send_signal_returns_a_receipt_with_the_sequence_number(executor: Stent):
    eid = await executor.dispatch(collect, "x", 2)
    one = await executor.send_signal(eid, "x", 1)
    two = await executor.send_signal(eid, "x", 2, sender={"email": "ann@example.com"})
    assert (one.seq, two.seq) == (1, 2)
    assert not one.duplicate and one.signal_id != two.signal_id
    await executor.wait_for(eid, timeout=patience(10))
    stored = await executor.signals_of(eid)
    assert stored[1].sender == {"email": "ann@example.com"}


async def test_unknown_execution_is_refused(executor: Stent):
    with pytest.raises(ExecutionNotFound) as caught:
        await executor.send_signal("no-such-id", "approval", {})
    assert isinstance(caught.value, ValueError)


async def test_a_finished_execution_accepts_no_signal(executor: Stent):
    eid = await executor.dispatch(quick)
    await executor.wait_for(eid, timeout=patience(10))
    with pytest.raises(ExecutionFinished) as caught:
        await executor.send_signal(eid, "approval", {})
    assert caught.value.state == "completed" and isinstance(caught.value, ValueError)
    assert await executor.signals_of(eid) == []


async def test_a_payload_that_is_not_json_is_refused_and_nothing_is_stored(executor: Stent):
    eid = await executor.dispatch(collect, "x", 1)
    with pytest.raises(SignalValidationError) as caught:
        await executor.send_signal(eid, "x", {"when": object()})
    assert isinstance(caught.value, ValueError)
    with pytest.raises(SignalValidationError):
        await executor.send_signal(eid, "x", float("nan"))
    assert await executor.signals_of(eid) == []


async def test_a_payload_over_the_size_limit_is_refused(db_url: str):
    async with Stent(db_url, max_signal_bytes=1024) as executor:
        eid = await executor.dispatch(collect, "x", 1)
        with pytest.raises(SignalValidationError, match="limit is 1024 bytes"):
            await executor.send_signal(eid, "x", {"blob": "y" * 2000})
        await executor.send_signal(eid, "x", {"blob": "y" * 500})
        assert (await executor.wait_for(eid, timeout=patience(10))).unwrap() == [
            {"blob": "y" * 500}
        ]


@pytest.mark.parametrize("workflow", [declared_schema, wait_schema])
async def test_an_invalid_payload_is_refused_with_errors_per_field(executor: Stent, workflow: Any):
    eid = await executor.dispatch(workflow)
    if workflow is wait_schema:
        await until_open_wait(executor, eid, "pay")
    with pytest.raises(SignalValidationError) as caught:
        await executor.send_signal(eid, "pay", {"amount": -5, "note": 7})
    assert set(caught.value.errors) == {"amount", "note"}
    assert "minimum" in caught.value.errors["amount"][0]
    with pytest.raises(SignalValidationError) as caught:
        await executor.send_signal(eid, "pay", {})
    assert "'amount' is a required property" in caught.value.errors[""][0]
    assert await executor.signals_of(eid) == []
    await executor.send_signal(eid, "pay", {"amount": 5})
    assert (await executor.wait_for(eid, timeout=patience(10))).unwrap() == {"amount": 5}


async def test_the_same_idempotency_key_yields_one_signal(executor: Stent):
    eid = await executor.dispatch(collect, "x", 2)
    first = await executor.send_signal(eid, "x", {"v": 1}, idempotency_key="k1")
    again = await executor.send_signal(eid, "x", {"v": 1}, idempotency_key="k1")
    assert again.duplicate and again.signal_id == first.signal_id and again.seq == first.seq
    with pytest.raises(IdempotencyKeyConflict) as caught:
        await executor.send_signal(eid, "x", {"v": 2}, idempotency_key="k1")
    assert isinstance(caught.value, ValueError)
    await executor.send_signal(eid, "x", {"v": 3}, idempotency_key="k2")
    assert (await executor.wait_for(eid, timeout=patience(10))).unwrap() == [{"v": 1}, {"v": 3}]
    after_finish = await executor.send_signal(eid, "x", {"v": 1}, idempotency_key="k1")
    assert after_finish.duplicate and after_finish.signal_id == first.signal_id
    assert len(await executor.signals_of(eid)) == 2


async def test_concurrent_sends_with_one_key_store_one_signal(executor: Stent):
    eid = await executor.dispatch(collect, "x", 1)
    receipts = await asyncio.gather(
        *(executor.send_signal(eid, "x", "same", idempotency_key="double-click") for _ in range(10))
    )
    assert len({r.signal_id for r in receipts}) == 1
    assert sum(not r.duplicate for r in receipts) == 1
    assert len(await executor.signals_of(eid)) == 1


async def test_timeout_race_the_signal_wins(executor: Stent):
    eid = await executor.dispatch(race, 3600)
    await until_open_wait(executor, eid, "approval")
    await executor.send_signal(eid, "approval", {"approved": True})
    assert (await executor.wait_for(eid, timeout=patience(10))).unwrap() == {"approved": True}
    steps = await executor.steps_of(eid)
    assert [(s.kind, s.status) for s in steps] == [("wait", "done"), ("timer", "cancelled")]


async def test_timeout_race_the_timer_wins_and_a_late_signal_stays_buffered(executor: Stent):
    eid = await executor.dispatch(race, 0.05)
    await until_open_wait(executor, eid, "after")
    # The cancelled wait consumed nothing: this late approval is buffered, not lost.
    await executor.send_signal(eid, "approval", {"approved": "late"})
    await executor.send_signal(eid, "after", "next")
    assert (await executor.wait_for(eid, timeout=patience(10))).unwrap() == {
        "timed_out": True,
        "after": "next",
    }
    states = {s.name: s.state for s in await executor.signals_of(eid)}
    assert states == {"approval": "unconsumed", "after": "consumed"}


async def test_builtin_timeout_raises_signal_timeout_or_returns_the_default(executor: Stent):
    raising = await executor.dispatch(builtin_timeout, 0.05, False)
    defaulting = await executor.dispatch(builtin_timeout, 0.05, True)
    assert (
        await executor.wait_for(raising, timeout=patience(10))
    ).unwrap() == "timed out: approval"
    assert (await executor.wait_for(defaulting, timeout=patience(10))).unwrap() == "no answer"


async def test_builtin_timeout_answered_in_time_returns_the_payload(executor: Stent):
    eid = await executor.dispatch(builtin_timeout, 3600, False)
    await until_open_wait(executor, eid, "approval")
    await executor.send_signal(eid, "approval", "yes")
    assert (await executor.wait_for(eid, timeout=patience(10))).unwrap() == "yes"


async def test_a_restart_never_restarts_a_timer(db_url: str):
    # The executors' clock is the test's: the deadline passes while no executor runs, then
    # time stands still, so a timer restarted on recovery (another second) would never fire.
    now = [time.time()]
    async with Stent(db_url, clock=lambda: now[0]) as executor:
        eid = await executor.dispatch(builtin_timeout, 1.0, True)
        await until_open_wait(executor, eid, "approval")
        deadline = (await executor.state_of(eid)).waiting_on[0].deadline
    now[0] += 1.1
    async with Stent(db_url, clock=lambda: now[0]) as executor:
        result = await executor.wait_for(eid, timeout=patience(10))
        assert result.unwrap() == "no answer"
        steps = await executor.steps_of(eid)
        assert steps[0].deadline == deadline


async def test_signals_left_when_an_execution_finishes_are_kept_as_unconsumed(executor: Stent):
    eid = await executor.dispatch(gated)
    for n in range(3):
        await executor.send_signal(eid, "x", n)
    await executor.send_signal(eid, "gate", "open")
    assert (await executor.wait_for(eid, timeout=patience(10))).unwrap() == 0
    assert [(s.payload, s.state) for s in await executor.signals_of(eid)] == [
        (0, "consumed"),
        (1, "unconsumed"),
        (2, "unconsumed"),
        ("open", "consumed"),
    ]


async def test_sending_and_finishing_exclude_each_other(executor: Stent):
    """Signals racing the execution's end are either consumed, unconsumed or refused."""
    for _ in range(5):
        eid = await executor.dispatch(collect, "x", 1)
        outcomes = await asyncio.gather(
            *(executor.send_signal(eid, "x", n) for n in range(20)), return_exceptions=True
        )
        await executor.wait_for(eid, timeout=patience(10))
        accepted = [o for o in outcomes if not isinstance(o, BaseException)]
        assert all(isinstance(o, ExecutionFinished) for o in outcomes if o not in accepted)
        stored = await executor.signals_of(eid)
        assert len(stored) == len(accepted)
        assert [s.state for s in stored].count("consumed") == 1
        assert all(s.state in ("consumed", "unconsumed") for s in stored)


async def test_cancel_stops_the_execution_and_refuses_later_signals(executor: Stent):
    eid = await executor.dispatch(collect, "x", 1)
    await until_open_wait(executor, eid, "x")
    assert await executor.cancel(eid)
    assert not await executor.cancel(eid)
    result = await executor.wait_for(eid, timeout=patience(10))
    assert not result.ok
    with pytest.raises(ExecutionFinished):
        await executor.send_signal(eid, "x", 1)
    state = await until_state(executor, eid, "cancelled")
    assert state.waiting_on == []


async def test_wait_for_returns_the_workflows_own_result(executor: Stent):
    eid = await executor.dispatch(quick)
    result = await executor.wait_for(eid, timeout=patience(10))
    assert result == Result.Ok("done")
    assert (await executor.state_of(eid)).result == Result.Ok("done")
