"""The one place the web layer sends a signal on a person's behalf.

Every path that answers a wait (the form, and the JSON API for API tokens; signed links
and embedded forms later) comes through ``answer_wait`` or ``send_as_token``, which check
the authorization rule (``authorization.may_answer`` / ``token_may_send``) and attach
the sender from the session (or token) and the connection, never from the client. A
refused attempt consumes nothing and is recorded with who tried, when, through which
path and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

from starlette.requests import Request

from app.engine import SignalReceipt, SignalRecord, WaitInfo

from .authorization import Decision, may_answer, token_may_send
from .identity import User, sender_of, utc_now_iso
from .state import Desk
from .tokens import Token


class NotAllowed(Exception):
    """The user (or token) may not answer this wait (the refusal has been recorded)."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.reason)
        self.decision = decision


@dataclass(frozen=True)
class ClosedWait:
    """Why a wait can no longer be answered, and by whom it was."""

    status: str
    answered_by: dict[str, Any] | None
    answered_at: float | None


async def authorize(
    desk: Desk, request: Request, user: User | None, wait: WaitInfo, path: str
) -> User:
    """The user, once allowed to answer ``wait``; else the refusal is stored and raised."""
    decision = may_answer(user, wait, desk.settings)
    if decision.allowed and user is not None:
        return user
    sender = (
        sender_of(request, user)
        if user is not None
        else {
            "ip_address": request.client.host if request.client else None,
            "user_agent": request.headers.get("user-agent", "")[:500],
            "source": path,
        }
    )
    await _refuse(desk, wait.execution_id, wait.name, wait.wait_id, path, decision, sender)


async def _refuse(
    desk: Desk,
    execution_id: str,
    name: str,
    wait_id: int | None,
    path: str,
    decision: Decision,
    sender: dict[str, Any],
) -> NoReturn:
    """Store a refused attempt (who, how, why), then raise ``NotAllowed``."""
    await desk.executor.record_refusal(
        execution_id, name, path=path, reason=decision.reason, sender=sender, wait_id=wait_id
    )
    raise NotAllowed(decision)


def token_sender(request: Request, token: Token, path: str) -> dict[str, Any]:
    """Who sent a signal through an API token: the token's name, and the connection."""
    return {
        "token": token.name,
        "token_id": token.id,
        "source": path,
        "ip_address": request.client.host if request.client else None,
        "user_agent": request.headers.get("user-agent", "")[:500],
        "time": utc_now_iso(),
    }


async def authorize_token(
    desk: Desk,
    request: Request,
    token: Token,
    execution_id: str,
    workflow: str,
    name: str,
    wait: WaitInfo | None,
    path: str,
) -> Token:
    """The token, once allowed to send ``name`` to the execution (answering ``wait`` if
    one is open); else the refusal is stored and ``NotAllowed`` raised."""
    decision = token_may_send(token, workflow, name)
    if decision.allowed:
        return token
    await _refuse(
        desk,
        execution_id,
        name,
        None if wait is None else wait.wait_id,
        path,
        decision,
        token_sender(request, token, path),
    )


async def send_as_token(
    desk: Desk,
    request: Request,
    token: Token,
    execution_id: str,
    workflow: str,
    name: str,
    wait: WaitInfo | None,
    payload: Any,
    idempotency_key: str | None,
    path: str,
) -> SignalReceipt:
    """Send ``payload`` as signal ``name`` with the token as its sender: the answer to
    ``wait``, or (no wait open) buffered for the wait that will come."""
    allowed = await authorize_token(desk, request, token, execution_id, workflow, name, wait, path)
    return await desk.executor.send_signal(
        execution_id,
        name,
        payload,
        wait_id=None if wait is None else wait.wait_id,
        idempotency_key=idempotency_key,
        sender=token_sender(request, allowed, path),
    )


async def answer_wait(
    desk: Desk,
    request: Request,
    user: User | None,
    wait: WaitInfo,
    payload: Any,
    idempotency_key: str | None,
    path: str,
) -> SignalReceipt:
    """Send ``payload`` as the answer to ``wait``, with the user as its sender."""
    allowed = await authorize(desk, request, user, wait, path)
    return await desk.executor.send_signal(
        wait.execution_id,
        wait.name,
        payload,
        wait_id=wait.wait_id,
        idempotency_key=idempotency_key,
        sender=sender_of(request, allowed),
    )


def answer_of(signals: list[SignalRecord], wait_id: int) -> SignalRecord | None:
    """The signal that answered wait ``wait_id``, if one did."""
    return next(
        (s for s in signals if s.consumed_by_step == wait_id and s.state == "consumed"), None
    )
