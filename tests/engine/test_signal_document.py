"""Every example of the signal document (docs: External Signals), run against the engine."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest
from engine_helpers import Calls, until_waiting
from patience import patience

from app.engine import Result, SignalValidationError, Stent, StepRecord
from workflows import activities
from workflows.approval import APPROVAL, approval_workflow
from workflows.approval_with_timeout import approval_with_signal_timeout, approval_with_timeout
from workflows.multi_step_approval import STAGES, multi_step_approval
from workflows.order_fulfillment import (
    DELIVERED,
    PAYMENT_CONFIRMED,
    SHIPPED,
    order_fulfillment,
)
from workflows.purchase_approval import APPROVAL_RESPONSE, purchase_approval
from workflows.webhook_processor import WEBHOOK_EVENT, webhook_processor

DECIDED_AT = "2024-01-15T10:30:00+00:00"
APPROVED = {"approved": True, "approver": "admin@example.com", "timestamp": DECIDED_AT}
REJECTED = {
    "approved": False,
    "approver": "admin@example.com",
    "reason": "Budget exceeded",
    "timestamp": DECIDED_AT,
}
# A timer this short (0.36 s) fires long before anyone could approve in a test.
TINY_HOURS = 0.0001


def names(calls: Calls) -> list[str]:
    """The activities that ran, in order."""
    return [name for name, _ in calls]


# --------------------------------------------------------------------- test-local workflows
@Stent.durable()
async def long_running_task() -> None:
    await activities.record("long_running_task")


@Stent.durable()
async def process_trigger(signal: dict[str, Any]) -> None:
    await activities.record("process_trigger", signal)


@Stent.durable()
async def workflow_with_delay() -> None:
    # Do some work first
    await long_running_task()  # Takes 5 minutes

    # Now wait for signal
    # If signal was sent during long_running_task, it's buffered
    signal = await Stent.wait_for_signal("trigger")

    await process_trigger(signal)


@Stent.durable()
async def notify_while_waiting(request_id: str) -> Any:
    """Notify the approvers while already waiting for the approval (both steps at once)."""
    _, approval = await asyncio.gather(
        activities.notify_approvers(request_id), Stent.wait_for_signal(APPROVAL)
    )
    return approval


@Stent.durable()
async def receive(name: str) -> Any:
    """Wait for one signal ``name``; its payload, as the workflow received it."""
    return await Stent.wait_for_signal(name)


# --------------------------------------------------------------------- the document's endpoints
class HTTPException(Exception):
    """Stands in for FastAPI's: what the document's endpoints raise."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(status_code, detail)
        self.status_code = status_code
        self.detail = detail


async def approve_request(
    executor: Stent, execution_id: str, approved: bool, approver: str, reason: str | None = None
) -> dict[str, str]:
    """``POST /approvals/{execution_id}`` of the document."""
    try:
        await executor.send_signal(
            execution_id,
            "approval",
            {
                "approved": approved,
                "approver": approver,
                "reason": reason,
                "timestamp": datetime.now().isoformat(),
            },
        )
        return {"status": "signal_sent"}
    except ValueError as e:
        raise HTTPException(404, str(e)) from e


async def send_signal_endpoint(
    executor: Stent, execution_id: str, name: str, payload: Any
) -> dict[str, bool]:
    """``POST /signals/{execution_id}`` of the document (Handle Missing Executions)."""
    try:
        state = await executor.state_of(execution_id)
    except ValueError:
        raise HTTPException(404, "Execution not found") from None

    if state.state in ("completed", "failed", "cancelled"):
        raise HTTPException(400, f"Execution already {state.state}")

    await executor.send_signal(execution_id, name, payload)
    return {"sent": True}


async def handle_webhook(
    executor: Stent, execution_id: str, event: dict[str, Any]
) -> dict[str, bool]:
    """``POST /webhooks/{execution_id}`` of the document."""
    await executor.send_signal(execution_id, "webhook_event", event)
    return {"received": True}


async def step_of_kind(executor: Stent, eid: str, kind: str, status: str) -> StepRecord:
    """Poll until the execution has a step of ``kind`` in ``status``; that step."""
    async with asyncio.timeout(patience(10)):
        while True:
            for step in await executor.steps_of(eid):
                if step.kind == kind and step.status == status:
                    return step
            await asyncio.sleep(0.01)


# --------------------------------------------------------------------- waiting and sending
async def test_an_approved_request_is_processed_and_reports_its_approver(
    executor: Stent, calls: Calls
) -> None:
    eid = await executor.dispatch(approval_workflow, "REQ-1")
    wait = await until_waiting(executor, eid, APPROVAL)
    assert wait.title == "Approve request REQ-1"
    assert calls == [("notify_approvers", ("REQ-1",))]

    await executor.send_signal(execution_id=eid, name="approval", payload=APPROVED)

    assert await executor.wait_for(eid, timeout=patience(10)) == Result.Ok(
        {"status": "approved", "approved_by": "admin@example.com", "approved_at": DECIDED_AT}
    )
    assert names(calls) == ["notify_approvers", "process_approved_request"]


async def test_a_rejected_request_tells_the_requester_why(executor: Stent, calls: Calls) -> None:
    eid = await executor.dispatch(approval_workflow, "REQ-2")
    await until_waiting(executor, eid, APPROVAL)

    await executor.send_signal(eid, APPROVAL, REJECTED)

    assert await executor.wait_for(eid, timeout=patience(10)) == Result.Error(
        "Rejected: Budget exceeded"
    )
    assert calls == [
        ("notify_approvers", ("REQ-2",)),
        ("notify_rejection", ("REQ-2", "Budget exceeded")),
    ]


async def test_a_rejection_without_a_reason_is_refused_and_the_request_keeps_waiting(
    executor: Stent, calls: Calls
) -> None:
    eid = await executor.dispatch(approval_workflow, "REQ-3")
    await until_waiting(executor, eid, APPROVAL)

    with pytest.raises(SignalValidationError) as refused:
        await executor.send_signal(eid, APPROVAL, {**REJECTED, "reason": None})

    assert "reason" in refused.value.errors
    assert [w.name for w in (await executor.state_of(eid)).waiting_on] == [APPROVAL]
    assert await executor.signals_of(eid) == []


async def test_a_signal_sent_before_the_workflow_waits_is_buffered_until_it_does(
    executor: Stent, calls: Calls
) -> None:
    work_done = activities.hold("long_running_task")
    eid = await executor.dispatch(workflow_with_delay)

    receipt = await executor.send_signal(eid, "trigger", {"action": "start"})
    assert receipt.consumed_by_step is None  # nobody waits yet: stored, not delivered
    assert [s.state for s in await executor.signals_of(eid)] == ["buffered"]

    work_done.set()

    assert await executor.wait_for(eid, timeout=patience(10)) == Result.Ok(None)
    assert calls == [("long_running_task", ()), ("process_trigger", ({"action": "start"},))]
    [signal] = await executor.signals_of(eid)
    assert signal.state == "consumed"


async def test_a_signal_of_another_name_does_not_wake_the_wait(executor: Stent) -> None:
    eid = await executor.dispatch(receive, "document_uploaded")
    await until_waiting(executor, eid, "document_uploaded")

    other = await executor.send_signal(eid, "payment_received", {"amount": 10})
    assert other.consumed_by_step is None
    await executor.send_signal(eid, "document_uploaded", {"file": "contract.pdf"})

    assert await executor.wait_for(eid, timeout=patience(10)) == Result.Ok({"file": "contract.pdf"})
    states = {s.name: s.state for s in await executor.signals_of(eid)}
    assert states == {"payment_received": "unconsumed", "document_uploaded": "consumed"}


async def test_a_simple_payload_reaches_the_workflow_unchanged(executor: Stent) -> None:
    exec_id = await executor.dispatch(receive, "trigger")
    await until_waiting(executor, exec_id, "trigger")

    await executor.send_signal(exec_id, "trigger", {"action": "start"})

    assert await executor.wait_for(exec_id, timeout=patience(10)) == Result.Ok({"action": "start"})


async def test_a_complex_payload_reaches_the_workflow_unchanged(executor: Stent) -> None:
    payload = {
        "form_id": "ABC123",
        "fields": {
            "name": "John Doe",
            "email": "john@example.com",
            "comments": "Please process urgently",
        },
        "submitted_at": "2024-01-15T10:30:00Z",
        "metadata": {
            "ip_address": "192.168.1.1",
            "user_agent": "Mozilla/5.0...",
        },
    }
    exec_id = await executor.dispatch(receive, "form_submitted")
    await until_waiting(executor, exec_id, "form_submitted")

    await executor.send_signal(exec_id, "form_submitted", payload)

    assert await executor.wait_for(exec_id, timeout=patience(10)) == Result.Ok(payload)
    [signal] = await executor.signals_of(exec_id)
    assert signal.payload == payload


async def test_a_signal_sent_from_another_process_reaches_a_busy_workflow(
    db_url: str, calls: Calls
) -> None:
    """ENGINE BUG (fails): the signal is stored and its wait completed, but the workflow
    never sees it. The other process's completion gets number 1; the worker's own activity
    then completes as number 2 and is delivered at once, so the run's watermark
    (``last_completion``) passes 1 and the poll never delivers it (the execution row is
    also last touched by the worker by then, so ``touched_by_others`` skips it)."""
    notifying = activities.hold("notify_approvers")
    async with Stent(db_url, poll_interval=1.0) as worker:
        eid = await worker.dispatch(notify_while_waiting, "REQ-11")
        await until_waiting(worker, eid, APPROVAL)
        async with Stent(db_url, run_worker=False) as cli:  # e.g. the stent-desk command
            receipt = await cli.send_signal(eid, APPROVAL, APPROVED)
            notifying.set()  # the worker finishes its activity before its next poll
        assert receipt.consumed_by_step is not None

        assert await worker.wait_for(eid, timeout=patience(5)) == Result.Ok(APPROVED)


# --------------------------------------------------------------------- human approval
@pytest.mark.parametrize("amount", [2500, 10000])
async def test_a_purchase_up_to_10000_goes_to_the_manager(
    executor: Stent, calls: Calls, amount: int
) -> None:
    purchase = {"id": "P-1", "item": "Laptops", "amount": amount}
    eid = await executor.dispatch(purchase_approval, purchase)
    await until_waiting(executor, eid, APPROVAL_RESPONSE)
    assert calls[0] == ("create_approval_request", (purchase, ["manager@company.com"]))
    assert calls[1][0] == "send_approval_emails"
    assert calls[1][1][1] == ["manager@company.com"]

    await executor.send_signal(
        eid, APPROVAL_RESPONSE, {"approved": True, "approver": "manager@company.com"}
    )

    result = await executor.wait_for(eid, timeout=patience(10))
    assert result.ok
    assert result.value["approved_by"] == "manager@company.com"
    assert result.value["order_id"].startswith("PO-")
    assert names(calls) == [
        "create_approval_request",
        "send_approval_emails",
        "create_purchase_order",
    ]


async def test_a_purchase_over_10000_goes_to_the_cfo_and_ceo(executor: Stent, calls: Calls) -> None:
    purchase = {"id": "P-2", "item": "Servers", "amount": 25000}
    eid = await executor.dispatch(purchase_approval, purchase)
    await until_waiting(executor, eid, APPROVAL_RESPONSE)
    executives = ["cfo@company.com", "ceo@company.com"]
    assert calls[0] == ("create_approval_request", (purchase, executives))
    assert calls[1][1][1] == executives

    await executor.send_signal(
        eid,
        APPROVAL_RESPONSE,
        {"approved": False, "approver": "cfo@company.com", "reason": "Not this quarter"},
    )

    assert await executor.wait_for(eid, timeout=patience(10)) == Result.Error(
        "Rejected by cfo@company.com: Not this quarter"
    )
    assert "create_purchase_order" not in names(calls)


async def test_a_document_approved_at_every_stage_is_fully_approved(
    executor: Stent, calls: Calls
) -> None:
    eid = await executor.dispatch(multi_step_approval, {"id": "DOC-7"})

    for stage in STAGES:
        wait = await until_waiting(executor, eid, f"{stage}_complete")
        assert wait.schema is not None
        assert calls[-1] == ("notify_stage_reviewers", ("DOC-7", stage))
        await executor.send_signal(
            eid, f"{stage}_complete", {"approved": True, "reviewer": f"{stage}@company.com"}
        )

    assert await executor.wait_for(eid, timeout=patience(10)) == Result.Ok(
        "Document DOC-7 fully approved"
    )
    logged = [args[1] for name, args in calls if name == "log_approval_stage"]
    assert logged == STAGES


async def test_a_document_rejected_at_finance_never_reaches_the_executives(
    executor: Stent, calls: Calls
) -> None:
    eid = await executor.dispatch(multi_step_approval, {"id": "DOC-8"})
    await until_waiting(executor, eid, "legal_review_complete")
    await executor.send_signal(eid, "legal_review_complete", {"approved": True})
    await until_waiting(executor, eid, "finance_review_complete")

    await executor.send_signal(
        eid, "finance_review_complete", {"approved": False, "reason": "Over budget"}
    )

    assert await executor.wait_for(eid, timeout=patience(10)) == Result.Error(
        "Rejected at finance_review: Over budget"
    )
    assert calls == [
        ("notify_stage_reviewers", ("DOC-8", "legal_review")),
        ("log_approval_stage", ("DOC-8", "legal_review", {"approved": True})),
        ("notify_stage_reviewers", ("DOC-8", "finance_review")),
    ]


# --------------------------------------------------------------------- event-driven processing
async def test_an_order_whose_payment_failed_is_cancelled(executor: Stent, calls: Calls) -> None:
    eid = await executor.dispatch(order_fulfillment, "ORD-1")
    await until_waiting(executor, eid, PAYMENT_CONFIRMED)

    await executor.send_signal(eid, PAYMENT_CONFIRMED, {"success": False})

    assert await executor.wait_for(eid, timeout=patience(10)) == Result.Ok(
        {"status": "cancelled", "reason": "payment_failed"}
    )
    assert calls == [("cancel_order", ("ORD-1",))]


async def test_an_order_goes_from_payment_to_delivery(executor: Stent, calls: Calls) -> None:
    eid = await executor.dispatch(order_fulfillment, "ORD-2")
    await until_waiting(executor, eid, PAYMENT_CONFIRMED)
    await executor.send_signal(eid, PAYMENT_CONFIRMED, {"success": True, "amount": 99.5})

    await until_waiting(executor, eid, SHIPPED)
    assert calls == [("start_fulfillment", ("ORD-2",))]
    await executor.send_signal(eid, SHIPPED, {"tracking_number": "1Z999AA1"})

    await until_waiting(executor, eid, DELIVERED)
    assert calls[-1] == ("notify_customer", ("ORD-2", "1Z999AA1"))
    await executor.send_signal(eid, DELIVERED, {"timestamp": "2024-01-17T09:00:00Z"})

    assert await executor.wait_for(eid, timeout=patience(10)) == Result.Ok(
        {"status": "completed", "delivered_at": "2024-01-17T09:00:00Z"}
    )
    assert names(calls) == ["start_fulfillment", "notify_customer"]


# --------------------------------------------------------------------- timeout with signal
@pytest.mark.parametrize("workflow", [approval_with_timeout, approval_with_signal_timeout])
async def test_an_approval_before_the_deadline_wins(
    executor: Stent, calls: Calls, workflow: Any
) -> None:
    eid = await executor.dispatch(workflow, "REQ-5")
    await until_waiting(executor, eid, APPROVAL)

    await executor.send_signal(eid, APPROVAL, APPROVED)

    assert await executor.wait_for(eid, timeout=patience(10)) == Result.Ok(APPROVED)
    assert names(calls) == ["notify_approvers"]  # finished: it can never escalate now


@pytest.mark.parametrize("workflow", [approval_with_timeout, approval_with_signal_timeout])
async def test_no_approval_before_the_deadline_escalates_once(
    executor: Stent, calls: Calls, workflow: Any
) -> None:
    eid = await executor.dispatch(workflow, "REQ-6", hours=TINY_HOURS)

    result = await executor.wait_for(eid, timeout=patience(10))

    assert result == Result.Error(f"Approval timed out after {TINY_HOURS} hours")
    assert calls == [("notify_approvers", ("REQ-6",)), ("escalate_approval", ("REQ-6",))]


async def test_an_approval_after_the_deadline_is_kept_but_never_consumed(
    executor: Stent, calls: Calls
) -> None:
    escalated = activities.hold("escalate_approval")
    eid = await executor.dispatch(approval_with_timeout, "REQ-7", hours=TINY_HOURS)
    await step_of_kind(executor, eid, "wait", "cancelled")  # the timer won the race

    late = await executor.send_signal(eid, APPROVAL, APPROVED)
    assert late.consumed_by_step is None
    escalated.set()

    assert await executor.wait_for(eid, timeout=patience(10)) == Result.Error(
        f"Approval timed out after {TINY_HOURS} hours"
    )
    [signal] = await executor.signals_of(eid)
    assert (signal.state, signal.consumed_by_step, signal.payload) == ("unconsumed", None, APPROVED)
    assert names(calls) == ["notify_approvers", "escalate_approval"]


# --------------------------------------------------------------------- webhook integration
async def test_the_webhook_processor_handles_every_event_once_in_order(
    executor: Stent, calls: Calls
) -> None:
    eid = await executor.dispatch(webhook_processor, {"source": "github"})
    await until_waiting(executor, eid, WEBHOOK_EVENT)
    events = [{"id": n, "type": "push"} for n in range(1, 6)]
    busy = activities.hold("process_webhook")

    assert await handle_webhook(executor, eid, events[0]) == {"received": True}
    for event in events[1:4]:  # a burst while event 1 is being processed
        await handle_webhook(executor, eid, event)
    state = await executor.state_of(eid)
    assert state.waiting_on == []
    assert [s.state for s in await executor.signals_of(eid)] == ["consumed"] + ["buffered"] * 3

    busy.set()
    await until_waiting(executor, eid, WEBHOOK_EVENT)
    await handle_webhook(executor, eid, events[4])
    await handle_webhook(executor, eid, {"type": "terminate"})

    result = await executor.wait_for(eid, timeout=patience(10))
    assert result.ok
    assert result.value["processed"] == 5
    assert [r["id"] for r in result.value["results"]] == [1, 2, 3, 4, 5]
    assert calls == [("process_webhook", (event,)) for event in events]
    steps = [s.consumed_by_step for s in await executor.signals_of(eid)]
    assert steps == sorted(steps)  # each event went to the next wait, in the order sent


# --------------------------------------------------------------------- the document's endpoints
async def test_the_approval_endpoint_answers_404_for_an_unknown_execution(
    executor: Stent,
) -> None:
    with pytest.raises(HTTPException) as answer:
        await approve_request(executor, "no-such-execution", True, "admin@example.com")

    assert answer.value.status_code == 404
    assert "no-such-execution" in answer.value.detail


async def test_the_approval_endpoint_answers_404_once_the_execution_finished(
    executor: Stent, calls: Calls
) -> None:
    eid = await executor.dispatch(approval_workflow, "REQ-9")
    await until_waiting(executor, eid, APPROVAL)
    assert await approve_request(executor, eid, True, "admin@example.com") == {
        "status": "signal_sent"
    }
    assert (await executor.wait_for(eid, timeout=patience(10))).ok

    with pytest.raises(HTTPException) as answer:
        await approve_request(executor, eid, True, "someone@example.com")

    assert answer.value.status_code == 404
    assert "already completed" in answer.value.detail


async def test_the_signal_endpoint_checks_the_execution_exists_and_still_runs(
    executor: Stent, calls: Calls
) -> None:
    with pytest.raises(HTTPException) as missing:
        await send_signal_endpoint(executor, "no-such-execution", APPROVAL, APPROVED)
    assert (missing.value.status_code, missing.value.detail) == (404, "Execution not found")

    eid = await executor.dispatch(approval_workflow, "REQ-10")
    await until_waiting(executor, eid, APPROVAL)
    assert await send_signal_endpoint(executor, eid, APPROVAL, APPROVED) == {"sent": True}
    await executor.wait_for(eid, timeout=patience(10))

    with pytest.raises(HTTPException) as finished:
        await send_signal_endpoint(executor, eid, APPROVAL, APPROVED)
    assert (finished.value.status_code, finished.value.detail) == (
        400,
        "Execution already completed",
    )
