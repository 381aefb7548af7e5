"""Order fulfillment driven by events: payment, shipping and delivery confirmations."""

from __future__ import annotations

from typing import Any

from app.engine import Stent
from workflows.activities import cancel_order, notify_customer, start_fulfillment

PAYMENT_CONFIRMED = "payment_confirmed"
SHIPPED = "shipped"
DELIVERED = "delivered"

PAYMENT_CONFIRMED_SCHEMA: dict[str, Any] = {
    "title": "Payment result",
    "description": "What the payment gateway reported for the order.",
    "type": "object",
    "properties": {
        "success": {
            "type": "boolean",
            "title": "Paid",
            "description": "True when the payment went through; false cancels the order.",
        },
    },
    "required": ["success"],
}

SHIPPED_SCHEMA: dict[str, Any] = {
    "title": "Shipping confirmation",
    "description": "The carrier picked up the order.",
    "type": "object",
    "properties": {
        "tracking_number": {
            "type": "string",
            "minLength": 1,
            "title": "Tracking number",
            "description": "The carrier's tracking number, sent on to the customer.",
        },
    },
    "required": ["tracking_number"],
}

DELIVERED_SCHEMA: dict[str, Any] = {
    "title": "Delivery confirmation",
    "description": "The customer received the order.",
    "type": "object",
    "properties": {
        "timestamp": {
            "type": "string",
            "format": "date-time",
            "title": "Delivered at",
            "description": "When the order was delivered (ISO 8601).",
        },
    },
    "required": ["timestamp"],
}


@Stent.durable(
    signals={
        PAYMENT_CONFIRMED: PAYMENT_CONFIRMED_SCHEMA,
        SHIPPED: SHIPPED_SCHEMA,
        DELIVERED: DELIVERED_SCHEMA,
    }
)
async def order_fulfillment(order_id: str) -> dict[str, Any]:
    """Follow ``order_id`` from payment to delivery; cancelled when the payment fails."""
    # Wait for payment confirmation from payment gateway
    payment = await Stent.wait_for_signal(
        PAYMENT_CONFIRMED, schema=PAYMENT_CONFIRMED_SCHEMA, title=f"Payment of order {order_id}"
    )

    if not payment["success"]:
        await cancel_order(order_id)
        return {"status": "cancelled", "reason": "payment_failed"}

    # Start fulfillment
    await start_fulfillment(order_id)

    # Wait for shipping confirmation
    shipping = await Stent.wait_for_signal(
        SHIPPED, schema=SHIPPED_SCHEMA, title=f"Shipping of order {order_id}"
    )

    await notify_customer(order_id, shipping["tracking_number"])

    # Wait for delivery confirmation
    delivery = await Stent.wait_for_signal(
        DELIVERED, schema=DELIVERED_SCHEMA, title=f"Delivery of order {order_id}"
    )

    return {
        "status": "completed",
        "delivered_at": delivery["timestamp"],
    }
