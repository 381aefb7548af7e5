"""One execution in memory: runs the workflow function and replays its recorded history.

Every ``Stent.*`` call and every awaited activity is a step, numbered in call order.
A step already in the history is answered from it; a new step is recorded first.
Step results reach the workflow through one queue, in the order the steps completed
(``completion_no``), one at a time with a few loop turns between them, so that code
racing several steps (``asyncio.wait``) sees the same winner on replay as it did live.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from . import codec, context, store
from .errors import ExecutionFinished, LeaseLost, NondeterminismError, SignalTimeout
from .registry import DurableFunction

if TYPE_CHECKING:
    from .worker import Worker

# Loop turns between two deliveries: enough for a woken task to reach its next await
# through asyncio.wait / gather / TaskGroup layers before the next result lands.
SETTLE_TURNS = 12
_MISSING = object()


@dataclass
class Recorded:
    """A step as the history holds it."""

    kind: str
    name: str
    status: str
    result: str | None
    error: str | None
    completion_no: int | None
    deadline: float | None


@dataclass
class Outcome:
    """A completed step's result (JSON text) or error (encoded exception)."""

    step_no: int
    completion_no: int
    result: str | None
    error: str | None
    void: bool = False  # a completion the workflow cancelled: only its number counts


class Run:
    """The in-memory side of one execution."""

    def __init__(
        self,
        executor: Worker,
        eid: str,
        fn: DurableFunction,
        arguments: Any,
        history: dict[int, Recorded],
    ) -> None:
        self.executor = executor
        self.eid = eid
        self.fn = fn
        self.arguments = arguments
        self.history = history
        self.next_step = 1
        self.futures: dict[int, asyncio.Future[Outcome]] = {}
        self.cancelled: set[int] = set()
        # waits and timers that are open in storage: a signal or a deadline will wake them
        self.wakeable: set[int] = set()
        recorded = sorted(
            (r.completion_no, n)
            for n, r in history.items()
            if r.status in ("done", "failed") and r.completion_no is not None
        )
        self.queue: deque[Outcome] = deque(
            Outcome(n, c, history[n].result, history[n].error) for c, n in recorded
        )
        # cancelled steps keep their completion number: it is used, never delivered
        self.last_completion = max((r.completion_no or 0 for r in history.values()), default=0)
        self.pending: dict[int, Outcome] = {}
        self.filling = False
        self.refill = False  # a fill was asked for while one was reading
        self.settling = False
        self.tasks: set[asyncio.Task[Any]] = set()
        self.busy = 0  # activities running and writes in flight: never evict then
        self.last_active = time.monotonic()
        self.evicted = False
        self.nondeterminism: NondeterminismError | None = None
        self.main: asyncio.Task[None] | None = None

    # ----------------------------------------------------------------- life cycle
    def start(self, on_finish: Callable[[Run, Any, BaseException | None], Any]) -> None:
        """Run the workflow function in a task of its own."""
        self.main = asyncio.get_running_loop().create_task(
            self._drive(on_finish), name=f"stent:{self.eid}"
        )
        self.tasks.add(self.main)

    async def _drive(self, on_finish: Callable[[Run, Any, BaseException | None], Any]) -> None:
        context.set_run(self)
        args, kwargs = self.arguments["args"], self.arguments["kwargs"]
        try:
            value = await self.fn.fn(*args, **kwargs)
        except asyncio.CancelledError:
            if self.evicted:
                return
            raise
        except Exception as exc:
            self._drop_children()
            await on_finish(self, None, self.nondeterminism or exc)
            return
        self._drop_children()
        await on_finish(self, value, self.nondeterminism)

    def _drop_children(self) -> None:
        """Tasks the workflow spawned and left behind end with it; nothing is recorded."""
        self.evicted = True
        for task in self.tasks:
            if task is not asyncio.current_task() and not task.done():
                task.cancel()

    def evict(self) -> None:
        """Drop from memory without recording anything: a later replay rebuilds it."""
        self.evicted = True
        for task in self.tasks:
            task.cancel()

    @property
    def idle(self) -> bool:
        """True when only a signal or a timer can move it on, so eviction loses nothing.

        An execution that is still computing, or whose steps are not yet stored as open,
        is never idle: nothing in storage would wake it again.
        """
        return (
            self.busy == 0
            and not self.queue
            and not self.settling
            and not self.wakeable.isdisjoint(self.futures)
        )

    # ----------------------------------------------------------------- delivery
    def deliver(self, outcome: Outcome) -> None:
        """A step completed: hand completions to the workflow strictly in number order.

        A number may arrive ahead of an earlier one that another process wrote (a signal
        sent from the CLI); the executor is then asked to read the missing ones.
        """
        number = outcome.completion_no
        if number <= self.last_completion or number in self.pending:
            return
        self.pending[number] = outcome
        while self.last_completion + 1 in self.pending:
            ready = self.pending.pop(self.last_completion + 1)
            self.last_completion += 1
            if not ready.void and ready.step_no not in self.cancelled:
                self.queue.append(ready)
        if self.pending:
            self.executor.fill_gap(self)
        self._pump()

    def _pump(self) -> None:
        if self.settling or self.evicted:
            return
        while self.queue and self.queue[0].step_no in self.cancelled:
            self.queue.popleft()
        if not self.queue or self.queue[0].step_no not in self.futures:
            return
        outcome = self.queue.popleft()
        future = self.futures.pop(outcome.step_no)
        self.wakeable.discard(outcome.step_no)
        if not future.done():
            future.set_result(outcome)
        self.last_active = time.monotonic()
        self.settling = True
        asyncio.get_running_loop().call_soon(self._settle, SETTLE_TURNS)

    def _settle(self, turns: int) -> None:
        if turns > 0:
            asyncio.get_running_loop().call_soon(self._settle, turns - 1)
            return
        self.settling = False
        self._pump()

    # ----------------------------------------------------------------- steps
    def _take_step(self, kind: str, name: str) -> tuple[int, Recorded | None]:
        """The next step number, checked against the history (determinism)."""
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        step_no = self.next_step
        self.next_step += 1
        recorded = self.history.get(step_no)
        if recorded is not None and (recorded.kind, recorded.name) != (kind, name):
            self.nondeterminism = NondeterminismError(
                step_no, f"{recorded.kind} {recorded.name!r}", f"{kind} {name!r}"
            )
            raise self.nondeterminism
        return step_no, recorded

    async def _await_step(self, step_no: int, recorded: Recorded | None) -> Outcome:
        """Wait for the step's outcome; a cancellation by the workflow is recorded."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self.futures[step_no] = future
        if recorded is not None and recorded.status == "open":
            self.wakeable.add(step_no)
            if recorded.deadline is not None:
                # a replayed open timer (or wait with a timeout) schedules its stored
                # deadline itself; the timer service ignores one it already knows
                self.executor.timers.add(recorded.deadline, self.eid, step_no)
        self._pump()
        try:
            return await future
        except asyncio.CancelledError:
            self.futures.pop(step_no, None)
            self.wakeable.discard(step_no)
            if not self.evicted:
                self.cancelled.add(step_no)
                if recorded is None or recorded.status != "cancelled":
                    self.executor.spawn_write(self, store.cancel_step, self.eid, step_no)
            raise

    async def _write(self, fn: Any, *args: Any) -> Any:
        self.busy += 1
        try:
            return await self.executor.write(fn, *args)
        except LeaseLost:
            # another worker owns the execution now: this copy ends, recording nothing
            self.executor.lost(self)
            raise asyncio.CancelledError from None
        finally:
            self.busy -= 1
            self.last_active = time.monotonic()

    async def activity(
        self, durable: DurableFunction, args: list[Any], kwargs: dict[str, Any]
    ) -> Any:
        """Await a durable function as a recorded step (run at most once to completion)."""
        step_no, recorded = self._take_step("activity", durable.name)
        if recorded is None:
            self.busy += 1
            task = self.executor.run_activity(self, step_no, durable, args, kwargs)
            try:
                return _unpack(await self._await_step(step_no, None))
            except asyncio.CancelledError:
                task.cancel()
                raise
            finally:
                self.busy -= 1
        return _unpack(await self._await_step(step_no, recorded))

    async def wait_for_signal(
        self, spec: store.WaitSpec, timeout: float | None, default: Any
    ) -> Any:
        """Wait for the oldest unconsumed signal ``spec.name`` (see ``store.open_wait``)."""
        name = spec.name
        step_no, recorded = self._take_step("wait", name)
        if recorded is None:
            # The future is registered (inside _await_step, before any await) ahead of the
            # transaction that opens the wait, so a signal committed right after it is
            # never missed.
            deadline = None if timeout is None else self.executor.clock() + timeout
            if spec.schema is None and name in self.fn.signals:
                # the declared schema is the wait's form in the dashboard too
                spec = replace(spec, schema=self.fn.schema_text(name))
            if spec.approvers is None and name in self.fn.rules:
                approvers, allow_self = self.fn.rules[name]
                spec = replace(spec, approvers=approvers, allow_self=spec.allow_self or allow_self)
            waiter = asyncio.ensure_future(self._await_step(step_no, None))
            try:
                done = await self._write(
                    store.open_wait,
                    self.eid,
                    step_no,
                    replace(spec, deadline=deadline),
                    self.executor.clock(),
                    self.executor.worker_id,
                )
            except ExecutionFinished:
                waiter.cancel()
                raise
            if done is not None:
                self.deliver(Outcome(step_no, done.completion_no, done.result, done.error))
            else:
                self.wakeable.add(step_no)
                if deadline is not None:
                    self.executor.timers.add(deadline, self.eid, step_no)
            outcome = await waiter
        else:
            outcome = await self._await_step(step_no, recorded)
        try:
            return _unpack(outcome)
        except SignalTimeout:
            # A timed-out wait is stored as failed with this error; it consumed nothing.
            if default is not _MISSING:
                return default
            raise

    async def sleep(self, seconds: float) -> None:
        """A durable timer: the deadline is stored once and survives restarts."""
        step_no, recorded = self._take_step("timer", "sleep")
        if recorded is None:
            deadline = self.executor.clock() + seconds
            waiter = asyncio.ensure_future(self._await_step(step_no, None))
            await self._write(
                store.open_timer,
                self.eid,
                step_no,
                "sleep",
                deadline,
                self.executor.clock(),
                self.executor.worker_id,
            )
            self.wakeable.add(step_no)
            self.executor.timers.add(deadline, self.eid, step_no)
            await waiter
        else:
            await self._await_step(step_no, recorded)


def _unpack(outcome: Outcome) -> Any:
    if outcome.error is not None:
        raise codec.decode_exception(codec.loads(outcome.error))
    return codec.loads(outcome.result)


MISSING = _MISSING
