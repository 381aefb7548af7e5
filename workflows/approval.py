"""Human approval: notify the approvers, wait for their decision, act on it."""

from __future__ import annotations

from typing import Any

from app.engine import Result, Stent
from workflows.activities import notify_approvers, notify_rejection, process_approved_request

APPROVAL = "approval"

APPROVAL_SCHEMA: dict[str, Any] = {
    "title": "Approval decision",
    "description": "Approve or reject the request. A rejection needs a reason.",
    "type": "object",
    "properties": {
        "approved": {
            "type": "boolean",
            "title": "Approve",
            "description": "True to approve the request, false to reject it.",
        },
        "approver": {
            "type": "string",
            "minLength": 1,
            "title": "Approver",
            "description": "Email address of the person deciding.",
        },
        "reason": {
            "type": ["string", "null"],
            "title": "Reason",
            "description": "Why the request is rejected (required when rejecting).",
        },
        "timestamp": {
            "type": "string",
            "format": "date-time",
            "title": "Decided at",
            "description": "When the decision was made (ISO 8601).",
        },
    },
    "required": ["approved", "approver", "timestamp"],
    "if": {"properties": {"approved": {"const": False}}, "required": ["approved"]},
    "then": {
        "required": ["reason"],
        "properties": {"reason": {"type": "string", "minLength": 1}},
    },
}


@Stent.durable(signals={APPROVAL: APPROVAL_SCHEMA})
async def approval_workflow(request_id: str) -> Result[dict[str, Any], str]:
    """Ask for approval of ``request_id``; Ok with who approved it, or Error on rejection."""
    # Send notification that approval is needed
    await notify_approvers(request_id)

    # Wait for approval signal (this could be hours or days)
    approval = await Stent.wait_for_signal(
        APPROVAL,
        schema=APPROVAL_SCHEMA,
        title=f"Approve request {request_id}",
        description="The request is on hold until someone approves or rejects it.",
    )

    if approval["approved"]:
        await process_approved_request(request_id)
        return Result.Ok(
            {
                "status": "approved",
                "approved_by": approval["approver"],
                "approved_at": approval["timestamp"],
            }
        )
    else:
        await notify_rejection(request_id, approval["reason"])
        return Result.Error(f"Rejected: {approval['reason']}")
