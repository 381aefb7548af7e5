"""Durable timers in one process: a heap of stored deadlines and one task that fires them."""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Awaitable, Callable

FireFn = Callable[[str, int], Awaitable[None]]


class TimerService:
    """Fires each (execution, step) deadline once, at or after its stored time."""

    def __init__(self, clock: Callable[[], float], fire: FireFn) -> None:
        self._clock = clock
        self._fire = fire
        self._heap: list[tuple[float, str, int]] = []
        self._known: set[tuple[str, int]] = set()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin firing deadlines."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="stent-timers")

    async def stop(self) -> None:
        """Stop firing; deadlines stay stored and fire after the next start."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def add(self, deadline: float, eid: str, step_no: int) -> None:
        """Schedule a stored deadline (idempotent)."""
        if (eid, step_no) in self._known:
            return
        self._known.add((eid, step_no))
        heapq.heappush(self._heap, (deadline, eid, step_no))
        if self._heap[0][2] == step_no and self._heap[0][1] == eid:
            self._changed.set()

    def __len__(self) -> int:
        return len(self._heap)

    async def _run(self) -> None:
        while True:
            self._changed.clear()
            if not self._heap:
                await self._changed.wait()
                continue
            delay = self._heap[0][0] - self._clock()
            if delay > 0:
                try:
                    await asyncio.wait_for(self._changed.wait(), timeout=min(delay, 60.0))
                except TimeoutError:
                    pass
                continue
            _, eid, step_no = heapq.heappop(self._heap)
            self._known.discard((eid, step_no))
            try:
                await self._fire(eid, step_no)
            except Exception:
                pass
