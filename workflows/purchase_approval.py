"""Purchase approval: large purchases need the CFO and CEO, the rest a manager."""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from app.engine import Result, Stent
from workflows.activities import (
    create_approval_request,
    create_purchase_order,
    send_approval_emails,
)

APPROVAL_RESPONSE = "approval_response"

# Purchases above this amount need executive approval.
EXECUTIVE_THRESHOLD = 10000
EXECUTIVE_APPROVERS = ["cfo@company.com", "ceo@company.com"]
MANAGER_APPROVERS = ["manager@company.com"]


class PurchaseRequest(TypedDict):
    """What a requester fills in on the start page."""

    item: str
    amount: int
    requester: NotRequired[str]
    justification: NotRequired[str]


APPROVAL_RESPONSE_SCHEMA: dict[str, Any] = {
    "title": "Purchase decision",
    "description": "Approve the purchase to create its purchase order, or reject it.",
    "type": "object",
    "properties": {
        "approved": {
            "type": "boolean",
            "title": "Approve",
            "description": "True creates the purchase order; false rejects the purchase.",
        },
        "approver": {
            "type": "string",
            "minLength": 1,
            "title": "Approver",
            "description": "Email address of the approver deciding.",
        },
        "reason": {
            "type": ["string", "null"],
            "title": "Reason",
            "description": "Why the purchase is rejected (required when rejecting).",
        },
    },
    "required": ["approved", "approver"],
    "if": {"properties": {"approved": {"const": False}}, "required": ["approved"]},
    "then": {
        "required": ["reason"],
        "properties": {"reason": {"type": "string", "minLength": 1}},
    },
}


@Stent.durable(
    signals={APPROVAL_RESPONSE: APPROVAL_RESPONSE_SCHEMA},
    subject=lambda purchase: f"{purchase.get('item', 'Purchase')} ({purchase['amount']})",
)
async def purchase_approval(purchase: PurchaseRequest) -> Result[dict[str, Any], str]:
    """Get ``purchase`` approved at the level its amount needs; Ok with the order id."""
    # Determine required approval level
    if purchase["amount"] > EXECUTIVE_THRESHOLD:
        approvers = EXECUTIVE_APPROVERS
    else:
        approvers = MANAGER_APPROVERS

    # Request approval
    request_id = await create_approval_request(purchase, approvers)
    await send_approval_emails(request_id, approvers)

    # Wait for approval
    response = await Stent.wait_for_signal(
        APPROVAL_RESPONSE,
        schema=APPROVAL_RESPONSE_SCHEMA,
        title=f"Approve purchase of {purchase.get('item', 'an item')} for {purchase['amount']}",
        description=f"Approvers: {', '.join(approvers)}.",
    )

    if response["approved"]:
        order_id = await create_purchase_order(purchase)
        return Result.Ok({"order_id": order_id, "approved_by": response["approver"]})
    else:
        return Result.Error(f"Rejected by {response['approver']}: {response['reason']}")
