"""PostgreSQL databases for tests: one migrated template per run, a fresh copy per test.

Shared by the tiers whose tests run on both databases (the engine's and the dashboard's):
their ``db_url`` fixtures are parametrized over ``sqlite`` and ``postgresql`` and call
:func:`database_for`; the session fixture ``pg_databases`` (tests/conftest.py) holds the
template. The server is ``TEST_DATABASE_URL``, default ``postgresql://127.0.0.1:5432/test``;
each test gets a database ``stent_test_<random>`` created on it and dropped after the test.
When that server does not answer, the PostgreSQL cases skip and say why (once per test and
again at the end of the run, see :func:`unavailable`).

The databases are copies of one template that the executor migrated once per test session
(also created and dropped by this run): a migration costs ~0.3 s, a copy ~0.15 s, made one
test ahead and dropped after it on background threads.

A test that must stay on SQLite says so with :data:`sqlite_only`.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import pytest
from patience import patience
from sqlalchemy.engine import make_url

from app.engine.database import open_database

DEFAULT_TEST_DATABASE_URL = "postgresql://127.0.0.1:5432/test"
DATABASES = ["sqlite", "postgresql"]  # the params of every tier's ``db_url`` fixture
# Overrides a ``db_url`` fixture's params for one test or module (``pytestmark``).
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

_server_error: list[str] = []  # memo: why the server did not answer (checked once per run)
_server_checked: list[bool] = []


def admin_dsn() -> str:
    """The admin database's URL as a plain libpq DSN (asyncpg takes no driver suffix)."""
    url = make_url(os.environ.get("TEST_DATABASE_URL") or DEFAULT_TEST_DATABASE_URL)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def admin(*statements: str) -> None:
    """Run ``statements`` on the admin database, outside any transaction."""
    conn = await asyncpg.connect(admin_dsn(), timeout=patience(5))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def require_server() -> None:
    """Skip (loudly) when the PostgreSQL test server does not answer."""
    if not _server_checked:
        _server_checked.append(True)
        try:
            asyncio.run(admin("SELECT 1"))
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            _server_error.append(f"{type(exc).__name__}: {exc}")
    if _server_error:
        pytest.skip(unavailable() or "")


def unavailable() -> str | None:
    """Why the PostgreSQL cases were skipped, or None when the server answered."""
    if not _server_error:
        return None
    shown = make_url(admin_dsn()).render_as_string(hide_password=True)
    return (
        f"PostgreSQL TEST SERVER NOT AVAILABLE at {shown} (set TEST_DATABASE_URL): "
        f"{_server_error[0]}; the PostgreSQL cases of the engine and dashboard tests "
        "were SKIPPED"
    )


def database_url(name: str) -> str:
    """The application's (asyncpg) URL of database ``name`` on the test server."""
    url = make_url(admin_dsn()).set(drivername="postgresql+asyncpg", database=name)
    return url.render_as_string(hide_password=False)


def drop(name: str) -> None:
    """Drop database ``name``, ending any connection a test left behind first."""
    asyncio.run(
        admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{name}' AND pid <> pg_backend_pid()",
            f'DROP DATABASE IF EXISTS "{name}"',
        )
    )


async def migrate(url: str) -> None:
    """Bring the database of ``url`` (SQLite or PostgreSQL) to the head revision."""
    database = open_database(url)
    await database.start()
    await database.stop()


class Databases:
    """Fresh copies of the migrated template, each created while the previous test runs,
    and dropped while the next one runs.

    CREATE DATABASE takes ~0.15 s here, DROP DATABASE ~0.2 s (up to a second on a busy
    server: it waits for a checkpoint); made one test ahead and dropped one test behind,
    each on a background thread of its own, they overlap with the tests (which mostly
    wait) instead of adding to them. A failed drop is raised by :meth:`close`.
    """

    def __init__(self, template: str) -> None:
        self.template = template
        self._creator = ThreadPoolExecutor(1, thread_name_prefix="stent-test-db-create")
        self._dropper = ThreadPoolExecutor(1, thread_name_prefix="stent-test-db-drop")
        self._drops: list[Future[None]] = []
        self._next = self._creator.submit(self._create)

    def _create(self) -> str:
        name = f"stent_test_{uuid.uuid4().hex[:16]}"
        # The server stays up in every test (only app processes get killed), so commits
        # need not wait for the disk: a test database is thrown away anyway.
        asyncio.run(
            admin(
                f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"',
                f'ALTER DATABASE "{name}" SET synchronous_commit = off',
            )
        )
        return name

    def take(self) -> str:
        """A new database's name (give it back to :meth:`drop`); the next one starts
        being made."""
        name = self._next.result()
        self._next = self._creator.submit(self._create)
        return name

    def drop(self, name: str) -> None:
        """Drop database ``name`` in the background (its test is over)."""
        self._drops.append(self._dropper.submit(drop, name))

    def close(self) -> None:
        """Drop the database made ahead and not taken; wait for every drop, raising the
        first that failed."""
        try:
            self.drop(self._next.result())
        finally:
            self._creator.shutdown()
            self._dropper.shutdown()
        for dropped in self._drops:
            dropped.result()


@contextmanager
def template_databases() -> Iterator[Databases]:
    """This run's PostgreSQL databases: copies of a template migrated once, all dropped
    (the template too) on exit. Skips when the server does not answer."""
    require_server()
    template = f"stent_template_{uuid.uuid4().hex[:16]}"
    # asyncpg (already the app's driver) for the admin connection too: no second driver.
    # Sync fixtures run outside the tests' event loops, so asyncio.run is safe here.
    asyncio.run(admin(f'CREATE DATABASE "{template}"'))
    try:
        asyncio.run(migrate(database_url(template)))
        databases = Databases(template)
        try:
            yield databases
        finally:
            databases.close()
    finally:
        drop(template)


def database_for(request: pytest.FixtureRequest, sqlite_file: Path) -> Iterator[str]:
    """The body of a tier's ``db_url`` fixture: the URL of this test's own database.

    ``request.param`` ``sqlite``: ``sqlite_file`` (a fresh file in the test's tmp_path).
    ``postgresql``: a new database copied from the template of the session fixture
    ``pg_databases``, dropped (in the background) after the test.
    """
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{sqlite_file}"
        return
    require_server()
    databases: Databases = request.getfixturevalue("pg_databases")
    name = databases.take()
    try:
        yield database_url(name)
    finally:
        databases.drop(name)


def main() -> int:
    """``python tests/pg_databases.py``: print the test server's URL when it answers (for
    ``make test`` to set ``TEST_DATABASE_URL``), else say loudly on stderr that the
    PostgreSQL cases will be skipped, and print nothing."""
    try:
        asyncio.run(admin("SELECT 1"))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        shown = make_url(admin_dsn()).render_as_string(hide_password=True)
        print(
            f"*** PostgreSQL TEST SERVER NOT AVAILABLE at {shown}: {type(exc).__name__}: "
            f"{exc}; the PostgreSQL cases will be SKIPPED ***",
            file=sys.stderr,
        )
        return 0
    print(admin_dsn())
    return 0


if __name__ == "__main__":
    sys.exit(main())
