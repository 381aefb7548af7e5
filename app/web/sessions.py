"""Server-side sessions: one row per login in ``sessions``, found by the cookie's id.

The cookie is signed, but a signature cannot be taken back: a copy of a cookie would
open the dashboard until it expired. So the cookie also carries a random session id,
and a request is let in only while that id's row is neither revoked nor timed out. The
row is read by primary key on every authenticated request (the one database read a
session costs), so a revocation holds at once on every process sharing the database.

Only the id's SHA-256 is stored: a copy of the table (a backup, a read replica), even
with ``STENT_SECRET_KEY``, lets nobody into a live session. Hashing costs a microsecond.
"""

from __future__ import annotations

import builtins
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request

from .identity import User
from .tables import sessions

LOGOUT = "logout"
ADMINISTRATOR = "administrator"
IDLE = "idle timeout"
ABSOLUTE = "absolute timeout"


@dataclass(frozen=True)
class SessionRecord:
    """A row of ``sessions`` (never the id): whose it is, and when it was used."""

    subject: str
    email: str
    name: str
    auth_method: str
    login_at: float
    last_seen_at: float
    revoked_at: float | None = None
    revoked_reason: str | None = None
    revoked_by: str | None = None


def hash_id(session_id: str) -> str:
    """The stored form of a session id: its SHA-256, in hex."""
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionStore:
    """Opens, reads, refreshes and ends sessions in the ``sessions`` table.

    It uses the engine it is given (the user store's): the caller closes it.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def open(self, user: User, at: float, purge_before: float) -> str:
        """A new session for ``user`` logged in at ``at``; its id (for the cookie only).

        Rows that logged in before ``purge_before`` (past the absolute timeout, so over
        whatever else happened to them) are deleted in the same transaction.
        """
        session_id = secrets.token_urlsafe(32)
        async with self.engine.begin() as conn:
            await conn.execute(delete(sessions).where(sessions.c.login_at < purge_before))
            await conn.execute(
                sessions.insert().values(
                    id_hash=hash_id(session_id),
                    subject=user.subject,
                    email=user.email.strip().lower(),
                    name=user.name,
                    auth_method=user.auth_method,
                    login_at=at,
                    last_seen_at=at,
                )
            )
        return session_id

    async def find(self, session_id: str) -> SessionRecord | None:
        """The session with this id (revoked or not), or None."""
        query = select(sessions).where(sessions.c.id_hash == hash_id(session_id))
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _record(row)

    async def seen(self, session_id: str, at: float) -> None:
        """Record that the session was used at ``at`` (callers do so once a minute at most)."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(sessions)
                .where(sessions.c.id_hash == hash_id(session_id), sessions.c.revoked_at.is_(None))
                .values(last_seen_at=at)
            )

    async def end(self, session_id: str, at: float, reason: str) -> None:
        """End one session (logout, or a timeout found on use); ended ones stay as they are."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(sessions)
                .where(sessions.c.id_hash == hash_id(session_id), sessions.c.revoked_at.is_(None))
                .values(revoked_at=at, revoked_reason=reason)
            )

    async def revoke_subject(self, subject: str, at: float, by: str) -> int:
        """End every live session of the person with this subject; how many."""
        return await self._revoke(sessions.c.subject == subject, at, by)

    async def revoke_person(self, person: str, at: float, by: str) -> int:
        """End every live session of ``person``, an email or a subject; how many."""
        email = person.strip().lower()
        return await self._revoke(
            (sessions.c.subject == person) | (sessions.c.email == email), at, by
        )

    async def _revoke(self, whose: ColumnElement[bool], at: float, by: str) -> int:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(sessions)
                .where(whose, sessions.c.revoked_at.is_(None))
                .values(revoked_at=at, revoked_reason=ADMINISTRATOR, revoked_by=by)
            )
        return int(result.rowcount)

    async def active(
        self, at: float, idle_timeout: float, absolute_timeout: float
    ) -> builtins.list[SessionRecord]:
        """The sessions live at ``at``, by person (email, subject), oldest login first."""
        query = (
            select(sessions)
            .where(
                sessions.c.revoked_at.is_(None),
                sessions.c.login_at > at - absolute_timeout,
                sessions.c.last_seen_at > at - idle_timeout,
            )
            .order_by(sessions.c.email, sessions.c.subject, sessions.c.login_at)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_record(row) for row in rows]


def _record(row: Any) -> SessionRecord:
    return SessionRecord(
        row.subject,
        row.email,
        row.name,
        row.auth_method,
        row.login_at,
        row.last_seen_at,
        row.revoked_at,
        row.revoked_reason,
        row.revoked_by,
    )


def session_store(request: Request) -> SessionStore:
    """The application's ``SessionStore``."""
    store: SessionStore = request.app.state.sessions
    return store
