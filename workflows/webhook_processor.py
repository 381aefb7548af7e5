"""Webhook integration: process every event sent to the execution until ``terminate``."""

from __future__ import annotations

from typing import Any

from app.engine import Stent
from workflows.activities import process_webhook

WEBHOOK_EVENT = "webhook_event"
TERMINATE = "terminate"

WEBHOOK_EVENT_SCHEMA: dict[str, Any] = {
    "title": "Webhook event",
    "description": "An event from the webhook's source; type 'terminate' stops the processor.",
    "type": "object",
    "properties": {
        "type": {
            "type": "string",
            "title": "Event type",
            "description": "The kind of event; 'terminate' ends the execution.",
        },
    },
}


@Stent.durable(signals={WEBHOOK_EVENT: WEBHOOK_EVENT_SCHEMA})
async def webhook_processor(webhook_config: dict[str, Any]) -> dict[str, Any]:
    """Process webhook events in the order they were sent, until a ``terminate`` event."""
    results = []

    while True:
        # Wait for next webhook event
        event = await Stent.wait_for_signal(
            WEBHOOK_EVENT, schema=WEBHOOK_EVENT_SCHEMA, title="Next webhook event"
        )

        if event.get("type") == TERMINATE:
            break

        result = await process_webhook(event)
        results.append(result)

        # Continue listening for more events

    return {"processed": len(results), "results": results}
