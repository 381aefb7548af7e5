"""The one place the web layer sends a signal on a person's behalf.

Every path that answers a wait (the form, later the JSON API, signed links and embedded
forms) comes through ``answer_wait``: the sender comes from the session and the
connection, never from the client, and the authorization rule is checked here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from app.engine import SignalReceipt, SignalRecord, Stent, WaitInfo

from .identity import User, sender_of


class NotAllowed(Exception):
    """The user may not answer this wait."""


def may_answer(user: User, wait: WaitInfo) -> bool:
    """Who may answer what. Until approver lists exist, any logged-in user may."""
    return bool(user.email)


@dataclass(frozen=True)
class ClosedWait:
    """Why a wait can no longer be answered, and by whom it was."""

    status: str
    answered_by: dict[str, Any] | None
    answered_at: float | None


async def answer_wait(executor: Stent, request: Request, user: User, wait: WaitInfo,
                      payload: Any, idempotency_key: str | None) -> SignalReceipt:
    """Send ``payload`` as the answer to ``wait``, with the user as its sender."""
    if not may_answer(user, wait):
        raise NotAllowed(f"{user.email} may not answer {wait.name}")
    return await executor.send_signal(
        wait.execution_id, wait.name, payload, wait_id=wait.wait_id,
        idempotency_key=idempotency_key, sender=sender_of(request, user))


def answer_of(signals: list[SignalRecord], wait_id: int) -> SignalRecord | None:
    """The signal that answered wait ``wait_id``, if one did."""
    return next((s for s in signals if s.consumed_by_step == wait_id
                 and s.state == "consumed"), None)
