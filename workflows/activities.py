"""The small activities the example workflows await.

Each one logs and journals its call in ``CALLS``, so tests can count side effects (an
activity runs exactly once per execution, however often the workflow replays). They are
deterministic and return JSON values, as every activity result is stored as JSON.

``GATES`` lets a test hold an activity open: while ``GATES[name]`` is an unset event,
a call to the activity ``name`` waits for it before doing anything.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from typing import Any

from app.engine import Stent

log = logging.getLogger(__name__)

CALLS: list[tuple[str, tuple[Any, ...]]] = []
GATES: dict[str, asyncio.Event] = {}


async def record(name: str, *args: Any) -> None:
    """Wait while a test holds ``name`` closed, then log and journal the call."""
    gate = GATES.get(name)
    if gate is not None:
        await gate.wait()
    log.info("activity %s%r", name, args)
    CALLS.append((name, args))


def hold(name: str) -> asyncio.Event:
    """Close the gate of activity ``name``; ``set()`` the returned event to open it."""
    gate = GATES[name] = asyncio.Event()
    return gate


def _reference(prefix: str, value: Any) -> str:
    """A stable id derived from ``value`` (the same input always gives the same id)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return f"{prefix}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"


@Stent.durable()
async def notify_approvers(request_id: str) -> None:
    """Tell the approvers that ``request_id`` waits for their decision."""
    await record("notify_approvers", request_id)


@Stent.durable()
async def process_approved_request(request_id: str) -> None:
    """Carry out an approved request."""
    await record("process_approved_request", request_id)


@Stent.durable()
async def notify_rejection(request_id: str, reason: str) -> None:
    """Tell the requester why ``request_id`` was rejected."""
    await record("notify_rejection", request_id, reason)


@Stent.durable()
async def create_approval_request(purchase: dict[str, Any], approvers: list[str]) -> str:
    """File an approval request for ``purchase``; returns its id."""
    await record("create_approval_request", purchase, approvers)
    return _reference("REQ", purchase)


@Stent.durable()
async def send_approval_emails(request_id: str, approvers: list[str]) -> None:
    """Email every approver a link to the request."""
    await record("send_approval_emails", request_id, approvers)


@Stent.durable()
async def create_purchase_order(purchase: dict[str, Any]) -> str:
    """Turn an approved purchase into a purchase order; returns the order id."""
    await record("create_purchase_order", purchase)
    return _reference("PO", purchase)


@Stent.durable()
async def notify_stage_reviewers(document_id: str, stage: str) -> None:
    """Ask the reviewers of ``stage`` to review the document."""
    await record("notify_stage_reviewers", document_id, stage)


@Stent.durable()
async def log_approval_stage(document_id: str, stage: str, response: dict[str, Any]) -> None:
    """Write a stage's decision to the audit log."""
    await record("log_approval_stage", document_id, stage, response)


@Stent.durable()
async def cancel_order(order_id: str) -> None:
    """Cancel an order whose payment failed."""
    await record("cancel_order", order_id)


@Stent.durable()
async def start_fulfillment(order_id: str) -> None:
    """Hand a paid order to the warehouse."""
    await record("start_fulfillment", order_id)


@Stent.durable()
async def notify_customer(order_id: str, tracking_number: str) -> None:
    """Send the customer the shipment's tracking number."""
    await record("notify_customer", order_id, tracking_number)


@Stent.durable()
async def escalate_approval(request_id: str) -> None:
    """Escalate a request nobody decided on in time."""
    await record("escalate_approval", request_id)


@Stent.durable()
async def process_webhook(event: dict[str, Any]) -> dict[str, Any]:
    """Handle one webhook event; returns what was done with it."""
    await record("process_webhook", event)
    return {"id": event.get("id"), "type": event.get("type"), "status": "processed"}
