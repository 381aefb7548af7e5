"""A fresh, migrated PostgreSQL database per test, on the server of ``TEST_DATABASE_URL``.

The approach of ``tests/engine/conftest.py``: the server of ``TEST_DATABASE_URL`` (default
``postgresql://127.0.0.1:5432/test``), databases created and dropped through asyncpg, a
loud skip when no server answers. Made for the tiers that need only a few databases: each
is created empty and migrated to head (about half a second; no template), and named
``stent_webtest_<random>`` so that one left behind would say where it came from. The
engine's conftest keeps its own helpers (a migrated template for its hundreds of cases).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.engine.migrations import upgrade_to_head

DEFAULT_TEST_DATABASE_URL = "postgresql://127.0.0.1:5432/test"
_server_error: list[str] = []  # memo: why the server did not answer (checked once per run)
_server_checked: list[bool] = []


def admin_dsn() -> str:
    """The admin database's URL as a plain libpq DSN (asyncpg takes no driver suffix)."""
    url = make_url(os.environ.get("TEST_DATABASE_URL") or DEFAULT_TEST_DATABASE_URL)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(*statements: str) -> None:
    """Run ``statements`` on the admin database, outside any transaction."""
    conn = await asyncpg.connect(admin_dsn(), timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def require_server() -> None:
    """Skip (loudly: see ``unavailable``) when the PostgreSQL test server does not answer."""
    if not _server_checked:
        _server_checked.append(True)
        try:
            asyncio.run(_admin("SELECT 1"))
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            _server_error.append(f"{type(exc).__name__}: {exc}")
    if _server_error:
        pytest.skip(unavailable())


def unavailable() -> str | None:
    """Why the PostgreSQL cases were skipped, for the end of the run; None if they ran."""
    if not _server_error:
        return None
    shown = make_url(admin_dsn()).render_as_string(hide_password=True)
    return (f"PostgreSQL TEST SERVER NOT AVAILABLE at {shown} (set TEST_DATABASE_URL): "
            f"{_server_error[0]}; the PostgreSQL cases of these tests were SKIPPED")


def database_url(name: str) -> str:
    """The app's URL (asyncpg driver) of database ``name`` on the test server."""
    url = make_url(admin_dsn()).set(drivername="postgresql+asyncpg", database=name)
    return url.render_as_string(hide_password=False)


async def migrate(url: str) -> None:
    """Bring the database at ``url`` (any of the app's) to the newest revision."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(upgrade_to_head)
    finally:
        await engine.dispose()


@contextmanager
def fresh_database() -> Iterator[str]:
    """The URL of a new database migrated to head; dropped after, connections and all.

    Call it from a sync fixture: it runs its own event loops, outside the test's.
    """
    require_server()
    name = f"stent_webtest_{uuid.uuid4().hex[:16]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"',
                       f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    try:
        url = database_url(name)
        asyncio.run(migrate(url))
        yield url
    finally:
        _drop(name)


def _drop(name: str, attempts: int = 10) -> None:
    """Drop database ``name``, ending any connection left to it first; retried while the
    server, shared by other runs, has no connection to spare."""
    for attempt in range(attempts):
        try:
            asyncio.run(_admin(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{name}' AND pid <> pg_backend_pid()",
                f'DROP DATABASE IF EXISTS "{name}"'))
            return
        except asyncpg.TooManyConnectionsError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5)
