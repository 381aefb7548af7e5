"""Fixtures for engine tests: a running executor on a fresh database per test.

``db_url`` is parametrized: every test that uses it (or ``executor``) runs on SQLite (a
fresh file) and on PostgreSQL (a fresh database ``stent_test_<random>`` created on the
server of ``TEST_DATABASE_URL``, default ``postgresql://127.0.0.1:5432/test``, and dropped
after the test). When that server does not answer, the PostgreSQL cases skip and say why.

The PostgreSQL databases are copies of one template that the executor migrated once per
test session (also created and dropped by this run): a migration costs ~0.3 s, a copy
~0.15 s, made one test ahead on a background thread.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pytest
from engine_helpers import Calls
from sqlalchemy.engine import make_url

from app.engine import Stent
from app.engine.database import PostgresDatabase
from workflows import activities

DEFAULT_TEST_DATABASE_URL = "postgresql://127.0.0.1:5432/test"
_server_error: list[str] = []  # memo: why the server did not answer (checked once per run)
_server_checked: list[bool] = []


def _admin_dsn() -> str:
    """The admin database's URL as a plain libpq DSN (asyncpg takes no driver suffix)."""
    url = make_url(os.environ.get("TEST_DATABASE_URL") or DEFAULT_TEST_DATABASE_URL)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(*statements: str) -> None:
    """Run ``statements`` on the admin database, outside any transaction."""
    conn = await asyncpg.connect(_admin_dsn(), timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def _require_server() -> None:
    """Skip (loudly) when the PostgreSQL test server does not answer."""
    if not _server_checked:
        _server_checked.append(True)
        try:
            asyncio.run(_admin("SELECT 1"))
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            _server_error.append(f"{type(exc).__name__}: {exc}")
    if _server_error:
        pytest.skip(_unavailable())


def _unavailable() -> str:
    shown = make_url(_admin_dsn()).render_as_string(hide_password=True)
    return (f"PostgreSQL TEST SERVER NOT AVAILABLE at {shown} (set TEST_DATABASE_URL): "
            f"{_server_error[0]}; the PostgreSQL cases of the engine tests were SKIPPED")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say it at the end of the run too, where ``-q`` output cannot hide it."""
    if _server_error:
        terminalreporter.write_line(_unavailable(), red=True, bold=True)


def _database_url(name: str) -> str:
    url = make_url(_admin_dsn()).set(drivername="postgresql+asyncpg", database=name)
    return url.render_as_string(hide_password=False)


def _drop(name: str) -> None:
    """Drop database ``name``, ending any connection a test left behind first."""
    asyncio.run(_admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{name}' AND pid <> pg_backend_pid()",
        f'DROP DATABASE IF EXISTS "{name}"'))


async def _migrate(url: str) -> None:
    database = PostgresDatabase(url)
    await database.start()
    await database.stop()


class _Databases:
    """Fresh copies of the migrated template, each created while the previous test runs.

    CREATE DATABASE takes ~0.15 s here; made on a background thread one test ahead, it
    overlaps with the test (which mostly waits), instead of adding to it.
    """

    def __init__(self, template: str) -> None:
        self.template = template
        self._creator = ThreadPoolExecutor(1, thread_name_prefix="stent-test-db")
        self._next = self._creator.submit(self._create)

    def _create(self) -> str:
        name = f"stent_test_{uuid.uuid4().hex[:16]}"
        # The server stays up in every test (only app processes get killed), so commits
        # need not wait for the disk: a test database is thrown away anyway.
        asyncio.run(_admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"',
                           f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
        return name

    def take(self) -> str:
        """A new database's name (the caller drops it); the next one starts being made."""
        name = self._next.result()
        self._next = self._creator.submit(self._create)
        return name

    def close(self) -> None:
        """Drop the database made ahead and not taken."""
        try:
            _drop(self._next.result())
        finally:
            self._creator.shutdown()


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[_Databases]:
    """Makes this run's PostgreSQL databases: copies of a template migrated once."""
    _require_server()
    template = f"stent_template_{uuid.uuid4().hex[:16]}"
    # asyncpg (already the app's driver) for the admin connection too: no second driver.
    # Sync fixtures run outside the tests' event loops, so asyncio.run is safe here.
    asyncio.run(_admin(f'CREATE DATABASE "{template}"'))
    try:
        asyncio.run(_migrate(_database_url(template)))
        databases = _Databases(template)
        try:
            yield databases
        finally:
            databases.close()
    finally:
        _drop(template)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of this test's own database: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/stent.db"
        return
    _require_server()
    databases: _Databases = request.getfixturevalue("pg_databases")
    name = databases.take()
    try:
        yield _database_url(name)
    finally:
        _drop(name)


@pytest.fixture
async def executor(db_url: str) -> AsyncIterator[Stent]:
    """An executor running (worker included) on ``db_url``; stopped after the test."""
    async with Stent(db_url, poll_interval=0.05) as running:
        yield running


@pytest.fixture
def calls() -> Iterator[Calls]:
    """The example activities' journal, empty at the start; no activity held after."""
    activities.CALLS.clear()
    yield activities.CALLS
    for gate in activities.GATES.values():
        gate.set()
    activities.GATES.clear()
    activities.CALLS.clear()
