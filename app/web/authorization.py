"""Who may answer what: the one rule every path that sends a signal checks.

Roles come from groups: administrators answer everything, auditors read everything and
answer nothing, everyone else answers the waits whose approvers list names them (or
that have no list). Nobody answers a wait of an execution they started themselves,
unless the wait says ``allow_self=True``: no self-approval, administrators included.

Machine senders (API tokens) are principals of their own: a token answers the waits, and
sends the signals, of the workflows and signal names within its scopes (an empty scope
covers everything).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.engine import WaitInfo
from app.settings import Settings

from .identity import User
from .tokens import Token


@dataclass(frozen=True)
class Decision:
    """Whether a user may answer a wait, and if not, why (stored with a refusal)."""

    allowed: bool
    reason: str


ALLOWED = Decision(True, "allowed")


def principals_of(user: User) -> tuple[str, ...]:
    """The principals a user acts as: ``user:<email>`` and ``group:<name>`` for each group."""
    return (f"user:{user.email.strip().lower()}", *(f"group:{g}" for g in user.groups))


def is_admin(user: User, settings: Settings) -> bool:
    """Administrators are the members of the admin group."""
    return settings.admin_group in user.groups


def is_auditor(user: User, settings: Settings) -> bool:
    """Auditors (members of the auditor group who are not administrators)."""
    return settings.auditor_group in user.groups and not is_admin(user, settings)


def may_answer(user: User | None, wait: WaitInfo, settings: Settings) -> Decision:
    """The rule: may ``user`` answer ``wait``?"""
    if user is None or not user.email:
        return Decision(False, "not logged in")
    if is_auditor(user, settings):
        return Decision(False, "auditors read but do not answer")
    if (
        wait.initiator_email is not None
        and not wait.allow_self
        and wait.initiator_email == user.email.strip().lower()
    ):
        return Decision(False, "the initiator may not answer their own request")
    if is_admin(user, settings) or wait.approvers is None:
        return ALLOWED
    if set(principals_of(user)) & set(wait.approvers):
        return ALLOWED
    return Decision(False, "not among the wait's approvers")


def token_may_send(token: Token | None, workflow: str, name: str) -> Decision:
    """The rule for machines: may ``token`` send signal ``name`` to a ``workflow``?"""
    if token is None or token.revoked:
        return Decision(False, "no valid API token")
    if token.workflows and workflow not in token.workflows:
        return Decision(False, "the token's scope does not cover this workflow")
    if token.signals and name not in token.signals:
        return Decision(False, "the token's scope does not cover this signal")
    return ALLOWED


def token_may_answer(token: Token | None, wait: WaitInfo) -> Decision:
    """May ``token`` answer ``wait``? When its workflow and name are within the scopes."""
    return token_may_send(token, wait.workflow, wait.name)


def inbox_filters(user: User, settings: Settings) -> dict[str, Any] | None:
    """``list_waiting`` filters for the waits ``user`` may answer; None: none at all."""
    if is_auditor(user, settings):
        return None
    email = user.email.strip().lower()
    if is_admin(user, settings):
        return {"principals": None, "not_initiated_by": email}
    return {"principals": principals_of(user), "not_initiated_by": email}
