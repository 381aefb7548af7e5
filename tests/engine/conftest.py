"""Fixtures for the engine's tests: a real SQLite file per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.engine import Stent


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/stent.db"


@pytest.fixture
async def executor(db_url: str) -> AsyncIterator[Stent]:
    async with Stent(db_url, poll_interval=0.05) as running:
        yield running
