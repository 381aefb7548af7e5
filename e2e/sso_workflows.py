"""Workflows of the single sign-on browser tests: waits that name who may answer them.

Loaded by the server of `test_sso_approvals.py` (through ``STENT_WORKFLOW_MODULES``, with
this directory on its ``PYTHONPATH``) and by the test itself, so the name resolves in both.
"""

from __future__ import annotations

from typing import Any

from app.engine import Result, Stent
from workflows.purchase_approval import (
    APPROVAL_RESPONSE,
    APPROVAL_RESPONSE_SCHEMA,
    PurchaseRequest,
)

FINANCE = "group:finance"


@Stent.durable(
    signals={APPROVAL_RESPONSE: APPROVAL_RESPONSE_SCHEMA},
    subject=lambda purchase: f"{purchase.get('item', 'Purchase')} ({purchase['amount']})",
)
async def finance_purchase(purchase: PurchaseRequest) -> Result[dict[str, Any], str]:
    """A purchase only the finance group may approve (and not its own initiator)."""
    response = await Stent.wait_for_signal(
        APPROVAL_RESPONSE,
        schema=APPROVAL_RESPONSE_SCHEMA,
        title=f"Approve purchase of {purchase.get('item', 'an item')} for {purchase['amount']}",
        description="Approvers: the finance group.",
        approvers=[FINANCE],
    )
    if response["approved"]:
        return Result.Ok({"approved_by": response["approver"]})
    return Result.Error(f"Rejected by {response['approver']}: {response['reason']}")
