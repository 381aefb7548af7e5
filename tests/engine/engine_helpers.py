"""Small helpers shared by the engine's tests."""

from __future__ import annotations

import asyncio
from typing import Any

from patience import patience

from app.engine import Stent, WaitInfo

Calls = list[tuple[str, tuple[Any, ...]]]


async def until_open_wait(executor: Stent, eid: str, name: str, timeout: float = 10.0) -> None:
    """Return once execution ``eid`` has an open wait on ``name``."""
    async with asyncio.timeout(patience(timeout)):
        while True:
            state = await executor.state_of(eid)
            if any(w.name == name for w in state.waiting_on):
                return
            assert not state.finished, f"{eid} finished before waiting on {name}: {state}"
            await asyncio.sleep(0.01)


async def until_state(executor: Stent, eid: str, wanted: str, timeout: float = 10.0) -> Any:
    """Return the state once execution ``eid`` reaches ``wanted``."""
    async with asyncio.timeout(patience(timeout)):
        while True:
            state = await executor.state_of(eid)
            if state.state == wanted:
                return state
            await asyncio.sleep(0.01)


async def until_waiting(executor: Stent, eid: str, name: str, timeout: float = 10.0) -> WaitInfo:
    """Poll until execution ``eid`` has an open wait for signal ``name``; that wait."""
    async with asyncio.timeout(patience(timeout)):
        while True:
            state = await executor.state_of(eid)
            for wait in state.waiting_on:
                if wait.name == name:
                    return wait
            assert not state.finished, f"execution finished without waiting on {name!r}"
            await asyncio.sleep(0.01)
