"""Fixtures for engine tests: a running executor on a fresh SQLite file per test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.engine import Stent, WaitInfo
from workflows import activities

Calls = list[tuple[str, tuple[Any, ...]]]


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


async def until_waiting(executor: Stent, eid: str, name: str, timeout: float = 10.0) -> WaitInfo:
    """Poll until execution ``eid`` has an open wait for signal ``name``; that wait."""
    async with asyncio.timeout(timeout):
        while True:
            state = await executor.state_of(eid)
            for wait in state.waiting_on:
                if wait.name == name:
                    return wait
            assert not state.finished, f"execution finished without waiting on {name!r}"
            await asyncio.sleep(0.01)
