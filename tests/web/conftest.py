"""Fixtures for the dashboard's tests: the real app on a real SQLite file, driven over ASGI.

``db_url``, for what must hold on both databases (rate limits shared by processes): a
SQLite file, and a fresh PostgreSQL database (``pg_server``; skipped, and said so at the
end of the run by tests/conftest.py, when the test server does not answer).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pg_server
import pytest
from web_helpers import Browser

from app.settings import Settings
from app.web import create_app


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return replace(Settings(), database_url=f"sqlite+aiosqlite:///{tmp_path}/desk.db",
                   workflow_modules=("workflows.approval", "workflows.purchase_approval",
                                     "workflows.approval_with_timeout", "desk_workflows"))


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[object]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


def _client(app: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://testserver",
                             headers={"user-agent": "pytest-browser/1.0"})


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


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database migrated to head, empty: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/desk.db"
        asyncio.run(pg_server.migrate(url))  # a sync fixture: outside the test's loop
        yield url
        return
    with pg_server.fresh_database() as url:
        yield url
