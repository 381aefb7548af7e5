"""Administrators' page of live sessions, by person, with a button to end a person's."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from .admin import require_admin
from .security import verified_form
from .session import now
from .sessions import SessionRecord, session_store
from .state import desk

REFUSAL = "Only administrators see and revoke sessions."


@dataclass(frozen=True)
class Person:
    """Someone with live sessions: who, and their sessions, oldest login first."""

    subject: str
    email: str
    name: str
    sessions: tuple[SessionRecord, ...]

    @property
    def last_seen_at(self) -> float:
        """When any of their sessions was last used."""
        return max(record.last_seen_at for record in self.sessions)


def by_person(records: list[SessionRecord]) -> list[Person]:
    """Sessions gathered per subject, in the order given (by email)."""
    groups: dict[str, list[SessionRecord]] = {}
    for record in records:
        groups.setdefault(record.subject, []).append(record)
    return [
        Person(subject, found[-1].email, found[-1].name, tuple(found))
        for subject, found in groups.items()
    ]


async def sessions_page(request: Request) -> Response:
    """GET /admin/sessions: every live session, by person."""
    require_admin(request, REFUSAL)
    settings = desk(request).settings
    records = await session_store(request).active(
        now(request), settings.session_idle_timeout, settings.session_absolute_timeout
    )
    return desk(request).templates.TemplateResponse(
        request,
        "admin/sessions.html",
        {"people": by_person(records), "now": now(request)},
        headers={"Cache-Control": "no-store"},
    )


async def revoke_sessions(request: Request) -> Response:
    """POST /admin/sessions/revoke: end every session of one person, on every process."""
    admin = require_admin(request, REFUSAL)
    form = await verified_form(request)
    subject = str(form.get("subject") or "")
    if not subject:
        raise HTTPException(400, "Say whose sessions to revoke.")
    await session_store(request).revoke_subject(subject, now(request), admin.email)
    return RedirectResponse("/admin/sessions", status_code=303)
