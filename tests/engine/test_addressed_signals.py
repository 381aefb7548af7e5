"""Signals addressed to one open wait: what a form in the dashboard sends."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from engine_helpers import until_open_wait
from patience import patience

from app.engine import Stent, WaitClosed


@Stent.durable(subject=lambda request: f"Laptop for {request['who']}")
async def request_approval(request: dict[str, Any]) -> Any:
    return await Stent.wait_for_signal("approval", title="Approve?", timeout=3600)


@Stent.durable()
async def quick_timeout() -> Any:
    answer = await Stent.wait_for_signal("approval", timeout=0.01, default="nobody answered")
    return [answer, await Stent.wait_for_signal("next")]


@Stent.durable()
async def purchase(order: dict[str, Any]) -> Any:
    return await Stent.wait_for_signal("approval")


async def test_a_signal_addressed_to_an_open_wait_answers_it(executor: Stent):
    eid = await executor.dispatch(request_approval, {"who": "Ann"})
    await until_open_wait(executor, eid, "approval")
    wait = (await executor.state_of(eid)).waiting_on[0]
    receipt = await executor.send_signal(eid, "approval", {"ok": True}, wait_id=wait.wait_id)
    assert receipt.consumed_by_step == wait.wait_id
    assert (await executor.wait_for(eid, timeout=patience(10))).unwrap() == {"ok": True}


async def test_two_approvers_racing_on_one_wait_one_wins_the_other_hears_who(
    executor: Stent,
):
    eid = await executor.dispatch(request_approval, {"who": "Ann"})
    await until_open_wait(executor, eid, "approval")
    wait = (await executor.state_of(eid)).waiting_on[0]
    outcomes = await asyncio.gather(
        executor.send_signal(
            eid,
            "approval",
            {"by": "bob"},
            wait_id=wait.wait_id,
            sender={"name": "Bob", "email": "bob@example.com"},
        ),
        executor.send_signal(
            eid,
            "approval",
            {"by": "cy"},
            wait_id=wait.wait_id,
            sender={"name": "Cy", "email": "cy@example.com"},
        ),
        return_exceptions=True,
    )
    winners = [o for o in outcomes if not isinstance(o, BaseException)]
    losers = [o for o in outcomes if isinstance(o, WaitClosed)]
    assert len(winners) == 1 and len(losers) == 1
    # SQLite's single writer takes them in order (Bob wins); on PostgreSQL the two
    # transactions race for the execution's row lock, so either may win.
    winner = "Cy" if isinstance(outcomes[0], BaseException) else "Bob"
    closed = losers[0]
    assert isinstance(closed, ValueError) and closed.status == "answered"
    assert closed.answered_by is not None and closed.answered_by["name"] == winner
    assert closed.answered_at is not None
    assert f"by {winner}" in str(closed)
    assert len(await executor.signals_of(eid)) == 1


async def test_a_late_second_approver_hears_who_answered_after_the_execution_finished(
    executor: Stent,
):
    eid = await executor.dispatch(request_approval, {"who": "Ann"})
    await until_open_wait(executor, eid, "approval")
    wait_id = (await executor.state_of(eid)).waiting_on[0].wait_id
    await executor.send_signal(
        eid,
        "approval",
        {"by": "bob"},
        wait_id=wait_id,
        sender={"name": "Bob", "email": "bob@example.com"},
    )
    await executor.wait_for(eid, timeout=patience(10))
    with pytest.raises(WaitClosed) as closed:
        await executor.send_signal(
            eid,
            "approval",
            {"by": "cy"},
            wait_id=wait_id,
            sender={"name": "Cy", "email": "cy@example.com"},
        )
    assert closed.value.status == "answered" and "by Bob" in str(closed.value)


async def test_a_resubmitted_form_with_its_idempotency_key_is_one_signal(executor: Stent):
    eid = await executor.dispatch(request_approval, {"who": "Ann"})
    await until_open_wait(executor, eid, "approval")
    wait_id = (await executor.state_of(eid)).waiting_on[0].wait_id
    first = await executor.send_signal(
        eid, "approval", {"ok": 1}, wait_id=wait_id, idempotency_key="form-123"
    )
    again = await executor.send_signal(
        eid, "approval", {"ok": 1}, wait_id=wait_id, idempotency_key="form-123"
    )
    assert again.duplicate and again.signal_id == first.signal_id


async def test_a_timed_out_wait_refuses_its_late_answer(executor: Stent):
    eid = await executor.dispatch(quick_timeout)
    await until_open_wait(executor, eid, "next")
    with pytest.raises(WaitClosed) as caught:
        await executor.send_signal(eid, "approval", {}, wait_id=1)
    assert caught.value.status == "timed out"
    await executor.send_signal(eid, "next", 2)
    assert (await executor.wait_for(eid, timeout=patience(10))).unwrap() == ["nobody answered", 2]


@pytest.mark.parametrize("wait_id", [99, 0])
async def test_an_unknown_wait_is_refused(executor: Stent, wait_id: int):
    eid = await executor.dispatch(purchase, {"item": "desk"})
    await until_open_wait(executor, eid, "approval")
    with pytest.raises(WaitClosed):
        await executor.send_signal(eid, "approval", {}, wait_id=wait_id)
    with pytest.raises(WaitClosed):
        await executor.send_signal(eid, "other-name", {}, wait_id=1)
    assert await executor.signals_of(eid) == []


async def test_executions_carry_a_subject_for_lists(executor: Stent):
    declared = await executor.dispatch(request_approval, {"who": "Ann"})
    derived = await executor.dispatch(purchase, {"item": "standing desk", "amount": 300})
    await until_open_wait(executor, derived, "approval")
    assert (await executor.state_of(declared)).subject == "Laptop for Ann"
    waits = {w.execution_id: w for w in (await executor.list_waiting()).items}
    assert waits[derived].subject == "standing desk"
