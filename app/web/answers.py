"""The one place the web layer sends a signal on a person's behalf.

Every path that answers a wait (the form now; the JSON API, signed links and embedded
forms later) comes through ``answer_wait``, which checks the authorization rule
(``authorization.may_answer``) and attaches the sender from the session and the
connection, never from the client. A refused attempt consumes nothing and is recorded
with who tried, when, through which path and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from app.engine import SignalReceipt, SignalRecord, WaitInfo

from .authorization import Decision, may_answer
from .identity import User, sender_of
from .state import Desk


class NotAllowed(Exception):
    """The user may not answer this wait (the refusal has been recorded)."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.reason)
        self.decision = decision


@dataclass(frozen=True)
class ClosedWait:
    """Why a wait can no longer be answered, and by whom it was."""

    status: str
    answered_by: dict[str, Any] | None
    answered_at: float | None


async def authorize(desk: Desk, request: Request, user: User | None, wait: WaitInfo,
                    path: str) -> User:
    """The user, once allowed to answer ``wait``; else the refusal is stored and raised."""
    decision = may_answer(user, wait, desk.settings)
    if decision.allowed and user is not None:
        return user
    sender = sender_of(request, user) if user is not None else {
        "ip_address": request.client.host if request.client else None,
        "user_agent": request.headers.get("user-agent", "")[:500], "source": path}
    await desk.executor.record_refusal(wait.execution_id, wait.name, path=path,
                                       reason=decision.reason, sender=sender,
                                       wait_id=wait.wait_id)
    raise NotAllowed(decision)


async def answer_wait(desk: Desk, request: Request, user: User | None, wait: WaitInfo,
                      payload: Any, idempotency_key: str | None, path: str) -> SignalReceipt:
    """Send ``payload`` as the answer to ``wait``, with the user as its sender."""
    allowed = await authorize(desk, request, user, wait, path)
    return await desk.executor.send_signal(
        wait.execution_id, wait.name, payload, wait_id=wait.wait_id,
        idempotency_key=idempotency_key, sender=sender_of(request, allowed))


def answer_of(signals: list[SignalRecord], wait_id: int) -> SignalRecord | None:
    """The signal that answered wait ``wait_id``, if one did."""
    return next((s for s in signals if s.consumed_by_step == wait_id
                 and s.state == "consumed"), None)
