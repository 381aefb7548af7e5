"""The people who logged in: one row per subject, with their first and last login.

Its own async engine on the executor's database URL: a login is one short upsert, so it
needs none of the executor's writer machinery, only a busy timeout to wait its turn.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from starlette.requests import Request

from .identity import User
from .tables import users

BUSY_TIMEOUT_MS = 5000
ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


@dataclass(frozen=True)
class UserRecord:
    """A row of ``users``: who someone is, as their provider said at their last login."""

    subject: str
    email: str
    name: str
    groups: tuple[str, ...]
    auth_method: str
    first_login_at: float
    last_login_at: float
    login_count: int


# Each of the web layer's two pools (people and tokens; rate limits) holds at most this
# many connections: with the executor's, a process stays at STENT_DATABASE_POOL_SIZE * 1.5
# + 11 connections to PostgreSQL.
WEB_POOL_SIZE = 2
WEB_POOL_OVERFLOW = 3


def async_url(url: str) -> str:
    """``url`` with an async driver (``sqlite://`` becomes ``sqlite+aiosqlite://``)."""
    parsed = make_url(url)
    if parsed.drivername in ASYNC_DRIVERS:
        parsed = parsed.set(drivername=ASYNC_DRIVERS[parsed.drivername])
    return parsed.render_as_string(hide_password=False)


class UserStore:
    """Records logins in the ``users`` table; reads a person back by subject."""

    def __init__(self, database_url: str) -> None:
        self.engine: AsyncEngine = create_async_engine(
            async_url(database_url), pool_size=WEB_POOL_SIZE, max_overflow=WEB_POOL_OVERFLOW
        )
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)

    async def record_login(self, user: User, at: float) -> None:
        """Insert ``user``, or update their details, last login and login count."""
        details = {
            "email": user.email.strip().lower(),
            "name": user.name,
            "groups": json.dumps(list(user.groups)),
            "auth_method": user.auth_method,
        }
        insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        upsert = insert(users).values(
            subject=user.subject, first_login_at=at, last_login_at=at, login_count=1, **details
        )
        upsert = upsert.on_conflict_do_update(
            index_elements=[users.c.subject],
            set_={**details, "last_login_at": at, "login_count": users.c.login_count + 1},
        )
        async with self.engine.begin() as conn:
            await conn.execute(upsert)

    async def get_user(self, subject: str) -> UserRecord | None:
        """The person with this subject, or None if they never logged in."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(users).where(users.c.subject == subject))).first()
        if row is None:
            return None
        return UserRecord(
            row.subject,
            row.email,
            row.name,
            tuple(json.loads(row.groups)),
            row.auth_method,
            row.first_login_at,
            row.last_login_at,
            row.login_count,
        )

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # The executor's writer holds the lock for a few milliseconds at a time: wait for it.
    cursor = dbapi_conn.cursor()
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.close()


def user_store(request: Request) -> UserStore:
    """The application's ``UserStore``."""
    store: UserStore = request.app.state.users
    return store
