"""Fixtures for the dashboard's tests: the real app on a real database, driven over ASGI.

``db_url`` is parametrized as the engine tests' is: every test that uses the app (or
``settings``) runs on SQLite (a fresh file) and on PostgreSQL (a fresh database copied from
a migrated template, dropped after the test; see tests/pg_databases.py), unless marked
``sqlite_only``. When the PostgreSQL test server does not answer, those cases skip.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from pg_databases import DATABASES, database_for
from web_helpers import Browser, Clock

from app.settings import Settings
from app.web import create_app


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of this test's own database: a SQLite file, or a new PostgreSQL database."""
    yield from database_for(request, tmp_path / "desk.db")


@pytest.fixture
def settings(db_url: str) -> Settings:
    return replace(
        Settings(),
        database_url=db_url,
        workflow_modules=(
            "workflows.approval",
            "workflows.purchase_approval",
            "workflows.approval_with_timeout",
            "desk_workflows",
        ),
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[object]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


def _client(app: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))  # type: ignore[arg-type]
    return httpx.AsyncClient(
        transport=transport,
        base_url="http://testserver",
        headers={"user-agent": "pytest-browser/1.0"},
    )


@pytest.fixture
async def anonymous(app: object) -> AsyncIterator[Browser]:
    async with _client(app) as client:
        yield Browser(client)


@pytest.fixture
async def ann(app: object) -> AsyncIterator[Browser]:
    """Ann, logged in through the development login, in the finance group."""
    async with _client(app) as client:
        browser = Browser(client)
        await browser.login("Ann Approver", "ann@example.com", "finance, managers")
        yield browser


@pytest.fixture
async def bob(app: object) -> AsyncIterator[Browser]:
    async with _client(app) as client:
        browser = Browser(client)
        await browser.login("Bob Builder", "bob@example.com", "engineering")
        yield browser


@pytest.fixture
def clock() -> Clock:
    """Time the test moves (sessions, rate-limit windows)."""
    return Clock()
