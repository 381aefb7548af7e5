"""Fixtures for engine tests: a running executor on a fresh SQLite file per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from engine_helpers import Calls

from app.engine import Stent
from workflows import activities


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """The URL of this test's own SQLite database file."""
    return f"sqlite+aiosqlite:///{tmp_path}/stent.db"


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
