"""Fixtures for engine tests: a running executor on a fresh database per test.

``db_url`` is parametrized: every test that uses it (or ``executor``) runs on SQLite (a
fresh file) and on PostgreSQL (a fresh database copied from a migrated template, dropped
after the test; see tests/pg_databases.py). When the PostgreSQL test server does not
answer, the PostgreSQL cases skip and say why.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from engine_helpers import Calls
from pg_databases import DATABASES, database_for

from app.engine import Stent
from workflows import activities


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of this test's own database: a SQLite file, or a new PostgreSQL database."""
    yield from database_for(request, tmp_path / "stent.db")


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
