"""Every example workflow survives a crash at each of its waits.

The executor is stopped while the workflow waits; a new executor on the same database
file recovers it, takes the signal and finishes it. Every activity's side effect must
have happened exactly once, however many executors the execution went through.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from engine_helpers import Calls, until_waiting
from patience import patience

from app.engine import Result, Stent
from workflows.approval import APPROVAL, approval_workflow
from workflows.approval_with_timeout import approval_with_signal_timeout, approval_with_timeout
from workflows.multi_step_approval import STAGES, multi_step_approval
from workflows.order_fulfillment import DELIVERED, PAYMENT_CONFIRMED, SHIPPED, order_fulfillment
from workflows.purchase_approval import APPROVAL_RESPONSE, purchase_approval
from workflows.webhook_processor import WEBHOOK_EVENT, webhook_processor

APPROVED = {
    "approved": True,
    "approver": "admin@example.com",
    "timestamp": "2024-01-15T10:30:00+00:00",
}


def restarted(db_url: str, clock: Callable[[], float] = time.time) -> Stent:
    """A new executor on the same database file, as after a process restart."""
    return Stent(db_url, poll_interval=0.05, clock=clock)


async def dispatch_and_crash(db_url: str, workflow: Any, *args: Any, at: str) -> str:
    """Start ``workflow``, let it reach its wait on ``at``, then stop the executor."""
    async with restarted(db_url) as executor:
        eid = await executor.dispatch(workflow, *args)
        await until_waiting(executor, eid, at)
    return eid


async def signal_and_crash(db_url: str, eid: str, name: str, payload: Any) -> None:
    """A new executor takes one signal, runs on to the workflow's next wait and stops."""
    async with restarted(db_url) as executor:
        await until_waiting(executor, eid, name)
        receipt = await executor.send_signal(eid, name, payload)
        assert receipt.consumed_by_step is not None
        await until_past(executor, eid, receipt.consumed_by_step)


async def signal_and_finish(db_url: str, eid: str, name: str, payload: Any) -> Result[Any, Any]:
    """A new executor takes the last signal; the execution's result."""
    async with restarted(db_url) as executor:
        await until_waiting(executor, eid, name)
        await executor.send_signal(eid, name, payload)
        return await executor.wait_for(eid, timeout=patience(10))


async def until_past(executor: Stent, eid: str, step_no: int) -> None:
    """Poll until the execution waits at a step after ``step_no``."""
    async with asyncio.timeout(patience(10)):
        while not any(w.step_no > step_no for w in (await executor.state_of(eid)).waiting_on):
            await asyncio.sleep(0.01)


def hours_later(hours: float) -> Callable[[], float]:
    """A clock ``hours`` ahead of the real one: the executor was down that long."""
    return lambda: time.time() + hours * 3600


async def test_approval_survives_a_crash_at_its_wait(db_url: str, calls: Calls) -> None:
    eid = await dispatch_and_crash(db_url, approval_workflow, "REQ-1", at=APPROVAL)

    result = await signal_and_finish(db_url, eid, APPROVAL, APPROVED)

    assert result == Result.Ok(
        {
            "status": "approved",
            "approved_by": "admin@example.com",
            "approved_at": APPROVED["timestamp"],
        }
    )
    assert calls == [("notify_approvers", ("REQ-1",)), ("process_approved_request", ("REQ-1",))]


async def test_purchase_approval_survives_a_crash_at_its_wait(db_url: str, calls: Calls) -> None:
    purchase = {"id": "P-2", "item": "Servers", "amount": 25000}
    eid = await dispatch_and_crash(db_url, purchase_approval, purchase, at=APPROVAL_RESPONSE)

    result = await signal_and_finish(
        db_url, eid, APPROVAL_RESPONSE, {"approved": True, "approver": "cfo@company.com"}
    )

    assert result.ok
    assert result.value["approved_by"] == "cfo@company.com"
    assert [name for name, _ in calls] == [
        "create_approval_request",
        "send_approval_emails",
        "create_purchase_order",
    ]


async def test_multi_step_approval_survives_a_crash_at_every_stage(
    db_url: str, calls: Calls
) -> None:
    signals = [f"{stage}_complete" for stage in STAGES]
    eid = await dispatch_and_crash(db_url, multi_step_approval, {"id": "DOC-7"}, at=signals[0])
    for signal in signals[:-1]:
        await signal_and_crash(db_url, eid, signal, {"approved": True})

    result = await signal_and_finish(db_url, eid, signals[-1], {"approved": True})

    assert result == Result.Ok("Document DOC-7 fully approved")
    expected: Calls = []
    for stage in STAGES:
        expected += [
            ("notify_stage_reviewers", ("DOC-7", stage)),
            ("log_approval_stage", ("DOC-7", stage, {"approved": True})),
        ]
    assert calls == expected


async def test_order_fulfillment_survives_a_crash_at_every_wait(db_url: str, calls: Calls) -> None:
    eid = await dispatch_and_crash(db_url, order_fulfillment, "ORD-2", at=PAYMENT_CONFIRMED)
    await signal_and_crash(db_url, eid, PAYMENT_CONFIRMED, {"success": True})
    await signal_and_crash(db_url, eid, SHIPPED, {"tracking_number": "1Z999AA1"})

    result = await signal_and_finish(db_url, eid, DELIVERED, {"timestamp": "2024-01-17T09:00Z"})

    assert result == Result.Ok({"status": "completed", "delivered_at": "2024-01-17T09:00Z"})
    assert calls == [("start_fulfillment", ("ORD-2",)), ("notify_customer", ("ORD-2", "1Z999AA1"))]


@pytest.mark.parametrize("workflow", [approval_with_timeout, approval_with_signal_timeout])
async def test_an_approval_after_a_crash_still_beats_the_deadline(
    db_url: str, calls: Calls, workflow: Any
) -> None:
    eid = await dispatch_and_crash(db_url, workflow, "REQ-5", at=APPROVAL)

    result = await signal_and_finish(db_url, eid, APPROVAL, APPROVED)

    assert result == Result.Ok(APPROVED)
    assert calls == [("notify_approvers", ("REQ-5",))]  # finished: it can never escalate now


@pytest.mark.parametrize("workflow", [approval_with_timeout, approval_with_signal_timeout])
async def test_a_deadline_that_passed_while_the_executor_was_down_escalates_once(
    db_url: str, calls: Calls, workflow: Any
) -> None:
    eid = await dispatch_and_crash(db_url, workflow, "REQ-6", at=APPROVAL)
    assert calls == [("notify_approvers", ("REQ-6",))]

    async with restarted(db_url, clock=hours_later(49)) as executor:
        result = await executor.wait_for(eid, timeout=patience(10))

    assert result == Result.Error("Approval timed out after 48 hours")
    assert calls == [("notify_approvers", ("REQ-6",)), ("escalate_approval", ("REQ-6",))]


async def test_the_webhook_processor_survives_crashes_and_events_sent_while_it_was_down(
    db_url: str, calls: Calls
) -> None:
    events = [{"id": n, "type": "push"} for n in range(1, 5)]
    eid = await dispatch_and_crash(
        db_url, webhook_processor, {"source": "github"}, at=WEBHOOK_EVENT
    )
    await signal_and_crash(db_url, eid, WEBHOOK_EVENT, events[0])
    async with Stent(db_url, run_worker=False) as client:  # no worker runs meanwhile
        for event in events[1:]:
            await client.send_signal(eid, WEBHOOK_EVENT, event)

    result = await signal_and_finish(db_url, eid, WEBHOOK_EVENT, {"type": "terminate"})

    assert result.ok
    assert result.value["processed"] == 4
    assert [r["id"] for r in result.value["results"]] == [1, 2, 3, 4]
    assert calls == [("process_webhook", (event,)) for event in events]
