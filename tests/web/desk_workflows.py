"""Small workflows for the dashboard's tests."""

from __future__ import annotations

from typing import Any

from app.engine import Stent

DECISION = {
    "type": "object",
    "properties": {
        "approved": {"type": "boolean"},
        "comments": {"type": "string", "title": "Comments"},
        "approver": {"type": "string"},
        "timestamp": {"type": "string"},
    },
    "required": ["approved"],
}


@Stent.durable()
async def simple_approval(subject: str) -> Any:
    """Asks one yes/no question."""
    return await Stent.wait_for_signal("decision", schema=DECISION, title=f"Approve {subject}?")


@Stent.durable()
async def expense_claim(title: str, amount: int, urgent: bool = False) -> Any:
    """An expense claim that a manager answers with an amount."""
    return await Stent.wait_for_signal(
        "review",
        title=f"Review {title}",
        schema={
            "type": "object",
            "properties": {
                "approved_amount": {"type": "integer", "minimum": 0, "title": "Approved amount"}
            },
            "required": ["approved_amount"],
        },
    )


@Stent.durable()
async def finance_approval(subject: str) -> Any:
    """Only finance may approve; never the person who asked."""
    return await Stent.wait_for_signal(
        "decision",
        schema=DECISION,
        title=f"Approve {subject}?",
        approvers=["group:finance", "user:cfo@example.com"],
    )


@Stent.durable()
async def order_webhooks(order: str) -> Any:
    """Waits for a payment, then a shipment: what webhooks of other services send."""
    payment = await Stent.wait_for_signal(
        "payment",
        schema={
            "type": "object",
            "properties": {"amount": {"type": "integer", "minimum": 0}},
            "required": ["amount"],
        },
    )
    shipment = await Stent.wait_for_signal("shipment")
    return {"order": order, "payment": payment, "shipment": shipment}
