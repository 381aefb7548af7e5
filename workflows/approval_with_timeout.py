"""Approval with a deadline: escalate when nobody decides in time.

Two ways to write it: the signal document's race of a signal against a durable timer
(``asyncio.wait``), and the built-in ``wait_for_signal(..., timeout=...)``.
``hours`` is a parameter so that tests can pass a fraction of an hour.
"""

from __future__ import annotations

import asyncio
from typing import Any

from app.engine import Result, SignalTimeout, Stent
from workflows.activities import escalate_approval, notify_approvers
from workflows.approval import APPROVAL, APPROVAL_SCHEMA


@Stent.durable(signals={APPROVAL: APPROVAL_SCHEMA})
async def approval_with_timeout(request_id: str, hours: float = 48) -> Result[dict[str, Any], str]:
    """Race the approval signal against a ``hours`` timer; Error after escalating."""
    await notify_approvers(request_id)

    # Create tasks for signal and timeout
    async def wait_for_approval() -> Any:
        return await Stent.wait_for_signal(
            APPROVAL,
            schema=APPROVAL_SCHEMA,
            title=f"Approve request {request_id}",
            description=f"Escalated if nobody decides within {hours} hours.",
        )

    async def timeout_after(hours: float) -> dict[str, Any]:
        await Stent.sleep(f"{hours}h")
        return {"timed_out": True}

    # Wait for either
    done, pending = await asyncio.wait(
        [
            asyncio.create_task(wait_for_approval()),
            asyncio.create_task(timeout_after(hours)),
        ],
        return_when=asyncio.FIRST_COMPLETED,
    )

    for task in pending:
        task.cancel()

    result = done.pop().result()

    if result.get("timed_out"):
        await escalate_approval(request_id)
        return Result.Error(f"Approval timed out after {hours} hours")

    return Result.Ok(result)


@Stent.durable(signals={APPROVAL: APPROVAL_SCHEMA})
async def approval_with_signal_timeout(
    request_id: str, hours: float = 48
) -> Result[dict[str, Any], str]:
    """The same deadline with the built-in ``timeout=``: ``SignalTimeout`` when it passes."""
    await notify_approvers(request_id)

    try:
        approval = await Stent.wait_for_signal(
            APPROVAL,
            schema=APPROVAL_SCHEMA,
            title=f"Approve request {request_id}",
            description=f"Escalated if nobody decides within {hours} hours.",
            timeout=f"{hours}h",
        )
    except SignalTimeout:
        await escalate_approval(request_id)
        return Result.Error(f"Approval timed out after {hours} hours")

    return Result.Ok(approval)
