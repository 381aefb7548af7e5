"""The in-process worker: executions in memory, their wake-ups, activities and timers."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from . import codec, context, leases, outcomes, queries, registry, store, worker_queries
from .database import Database, PostgresDatabase
from .errors import LeaseLost, WorkflowNotRegistered
from .membership import Membership
from .notify import Listener
from .records import FINISHED_STATES
from .registry import DurableFunction
from .replay import Outcome, Recorded, Run
from .result import Result
from .store import Completion
from .timers import TimerService

log = logging.getLogger("stent")
RECENT_RESULTS = 10_000
SAFETY_POLL_SECONDS = 2.0  # the poll's period while notifications are heard


class Worker:
    """Runs executions of one executor: replays, delivers completions, evicts idle ones."""

    def __init__(
        self,
        db: Database,
        clock: Callable[[], float],
        worker_id: str,
        *,
        idle_eviction_seconds: float,
        max_resident: int,
        poll_interval: float,
        lease_seconds: float = 15.0,
    ) -> None:
        self.db = db
        self.clock = clock
        self.worker_id = worker_id
        self.idle_eviction_seconds = idle_eviction_seconds
        self.max_resident = max_resident
        self.poll_interval = poll_interval
        self.timers = TimerService(clock, self._fire_deadline)
        self.running = False
        self._runs: dict[str, Run] = {}
        self._loading: dict[str, asyncio.Future[Run | None]] = {}
        self._finished: dict[str, list[asyncio.Future[Result[Any, Any]]]] = {}
        # results of executions that finished here lately: wait_for answers from memory
        self._recent_results: dict[str, Result[Any, Any]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._poll_since = 0.0
        self._cap_scheduled = False
        self.lease_seconds = lease_seconds
        self.membership = Membership(
            db, worker_id, lease_seconds, clock, self._adopt, self._drop_all
        )
        self._listener: Listener | None = None

    async def start(self) -> None:
        """Join the workers, claim the executions nobody runs (at first start: all of them)
        and resume them; their replays schedule their stored deadlines."""
        self.running = True
        self.timers.start()
        self._poll_since = self.clock()
        if isinstance(self.db, PostgresDatabase):
            self._listener = Listener(
                self.db.url,
                {
                    store.owner_channel(self.worker_id): self.nudge,
                    leases.UNOWNED_CHANNEL: lambda _eid: self.want_claim(),
                },
                name=f"stent-listen-{self.worker_id}",
                on_reconnect=self._poll_soon,
            )
            await self._listener.start()
        await self.membership.join()
        self._spawn(self._housekeeping())
        self._spawn(self.membership.keep())

    async def stop(self) -> None:
        """Drop every execution from memory (nothing is recorded), stop background work and
        hand the executions back, so that another worker (or a restart) takes them at once."""
        self.running = False
        if self._listener is not None:
            await self._listener.stop()
        for task in list(self._background):
            task.cancel()
        for run in list(self._runs.values()):
            run.evict()
        self._runs.clear()
        await self.timers.stop()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.membership.leave()

    def start_execution(self, eid: str, durable: DurableFunction, arguments: Any) -> None:
        """Run a newly stored execution."""
        if self.running:
            self._start_run(eid, durable, arguments, {})

    def is_resident(self, eid: str) -> bool:
        """True when the execution is held in memory here."""
        return eid in self._runs

    def recent_result(self, eid: str) -> Result[Any, Any] | None:
        """The result of an execution that finished here lately, if remembered."""
        return self._recent_results.get(eid)

    def result_future(self, eid: str) -> asyncio.Future[Result[Any, Any]]:
        """A future resolved when the execution finishes (here, or noticed by polling)."""
        future: asyncio.Future[Result[Any, Any]] = asyncio.get_running_loop().create_future()
        self._finished.setdefault(eid, []).append(future)
        return future

    def forget_future(self, eid: str, future: asyncio.Future[Result[Any, Any]]) -> None:
        """A ``result_future`` nobody waits on any more."""
        waiting = self._finished.get(eid, [])
        if future in waiting:
            waiting.remove(future)
        if not waiting:
            self._finished.pop(eid, None)
        future.cancel()

    def cancelled(self, eid: str, outcome: Result[Any, Any] | None) -> None:
        """The execution was cancelled in storage: drop it and tell its waiters."""
        run = self._runs.pop(eid, None)
        if run is not None:
            run.evict()
        if outcome is not None:
            self.resolve_finished(eid, outcome)

    def owned_change(self, eid: str, completion: Completion | None) -> None:
        """A transaction here changed an execution this worker owns: run what it woke."""
        if completion is not None:
            self.wake(completion)
        elif self.running and eid not in self._runs and eid not in self._loading:
            self._spawn(self._load(eid))  # just taken over by its sender: run it

    def nudge(self, payload: str) -> None:
        """Another process completed a step of an execution this worker owns, or cancelled
        it (a notification: ``"<id> <step> <completion> <result>"`` (``store.wake_payload``),
        ``"<id>"`` or ``"<id> cancelled"``)."""
        if not self.running:
            return
        eid, _, what = payload.partition(" ")
        run = self._runs.get(eid)
        if what and what != store.CANCELLED and run is not None:
            step_no, completion_no, result = what.split(" ", 2)
            run.deliver(Outcome(int(step_no), int(completion_no), result, None))
        elif what == store.CANCELLED:

            async def _look() -> None:
                row = await self.db.read_tx(worker_queries.change_of, eid)
                if row is not None:
                    await self._notice(row)

            self._spawn(_look())
        elif run is not None:
            self.fill_gap(run)
        elif eid not in self._loading:
            self._spawn(self._load(eid))

    def want_claim(self) -> None:
        """Some execution has no owner: claim now rather than at the next heartbeat."""
        self.membership.want_claim()

    def _poll_soon(self) -> None:
        self._spawn(self._poll_others())

    def lost(self, run: Run) -> None:
        """Another worker owns ``run``'s execution now: drop it here, recording nothing."""
        if self._runs.get(run.eid) is run:
            del self._runs[run.eid]
        log.warning("execution %s: lease lost to another worker; dropped here", run.eid)
        run.evict()

    def wake(self, completion: Completion) -> None:
        """A step of ``completion.execution_id`` completed in storage: deliver it."""
        if not self.running:
            return
        outcome = Outcome(
            completion.step_no, completion.completion_no, completion.result, completion.error
        )
        run = self._runs.get(completion.execution_id)
        if run is not None:
            run.deliver(outcome)
            return

        async def _load_and_deliver() -> None:
            loaded = await self._load(completion.execution_id)
            if loaded is not None:
                loaded.deliver(outcome)  # ignored when the history already had it

        self._spawn(_load_and_deliver())

    def resident(self) -> list[str]:
        """Ids of the executions currently held in memory."""
        return list(self._runs)

    async def evict(self, execution_id: str, timeout: float) -> bool:
        """Drop an execution from memory once idle, waiting up to ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        run = self._runs.get(execution_id)
        while run is not None and not run.idle and loop.time() < deadline:
            await asyncio.sleep(0.002)
            run = self._runs.get(execution_id)
        if run is None or not run.idle:
            return False
        del self._runs[execution_id]
        run.evict()
        await asyncio.sleep(0)
        return True

    async def write(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a store transaction (used by the in-memory executions)."""
        return await self.db.write(fn, *args)

    def spawn_write(self, run: Run, fn: Callable[..., Any], *args: Any) -> None:
        """A write nobody awaits (a cancelled step); the run counts as busy until it lands."""
        run.busy += 1

        async def _go() -> None:
            try:
                await self.db.write(fn, *args, self.clock(), self.worker_id)
            except LeaseLost:
                self.lost(run)
            finally:
                run.busy -= 1

        self._spawn(_go())

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_failure)
        return task

    def _start_run(
        self, eid: str, durable: DurableFunction, arguments: Any, history: dict[int, Recorded]
    ) -> Run:
        run = Run(self, eid, durable, arguments, history)
        self._runs[eid] = run
        run.start(self._on_finish)
        if len(self._runs) > self.max_resident and not self._cap_scheduled:
            # Soon, not now: the runs just started are not parked yet, and sorting on
            # every start would make a burst of starts quadratic.
            self._cap_scheduled = True
            asyncio.get_running_loop().call_later(0.05, self._evict_oldest_idle)
        return run

    async def _load(self, eid: str) -> Run | None:
        """Bring an execution into memory by replaying its history (once at a time)."""
        if eid in self._runs:
            return self._runs[eid]
        if eid in self._loading:
            return await self._loading[eid]
        future: asyncio.Future[Run | None] = asyncio.get_running_loop().create_future()
        self._loading[eid] = future
        run: Run | None = None
        try:
            row, steps = await self.db.read_tx(worker_queries.history, eid)
            if (
                row is not None
                and row.state not in FINISHED_STATES
                and row.lease_owner == self.worker_id
                and eid not in self._runs
            ):
                durable = registry.lookup(row.workflow)
                if durable is None:
                    raise WorkflowNotRegistered(row.workflow)
                history = {
                    s.step_no: Recorded(
                        s.kind, s.name, s.status, s.result, s.error, s.completion_no, s.deadline
                    )
                    for s in steps
                }
                run = self._start_run(eid, durable, codec.loads(row.arguments), history)
            future.set_result(run or self._runs.get(eid))
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved; the caller of this _load sees it below
            raise
        finally:
            del self._loading[eid]
        return run

    async def _fire_deadline(self, eid: str, step_no: int) -> None:
        try:
            completion = await self.db.write(
                store.fire_deadline, eid, step_no, self.clock(), self.worker_id
            )
        except LeaseLost:
            return  # its new owner fires it

        if completion is not None:
            self.wake(completion)

    def run_activity(
        self,
        run: Run,
        step_no: int,
        durable: DurableFunction,
        args: list[Any],
        kwargs: dict[str, Any],
    ) -> asyncio.Task[None]:
        """Run an activity outside the workflow's context, retrying by its policy."""
        ctx = contextvars.copy_context()
        ctx.run(context.set_run, None)
        return asyncio.get_running_loop().create_task(
            self._activity(run, step_no, durable, args, kwargs), context=ctx
        )

    async def _activity(
        self,
        run: Run,
        step_no: int,
        durable: DurableFunction,
        args: list[Any],
        kwargs: dict[str, Any],
    ) -> None:
        attempt = 0
        while True:
            attempt += 1
            result: str | None = None
            error: str | None = None
            try:
                value = await durable.fn(*args, **kwargs)
                result = codec.dumps(value, f"the result of {durable.name}")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if durable.retry.should_retry(attempt, exc):
                    await asyncio.sleep(durable.retry.backoff(attempt))
                    continue
                error = codec.dumps(codec.encode_exception(exc))
            break
        completion_no = await run._write(
            store.record_activity,
            run.eid,
            step_no,
            durable.name,
            result,
            error,
            attempt,
            self.clock(),
            self.worker_id,
        )
        if completion_no is not None:
            run.deliver(Outcome(step_no, completion_no, result, error))

    async def _on_finish(self, run: Run, value: Any, exc: BaseException | None) -> None:
        if exc is not None:
            state, result, error = "failed", None, codec.dumps(codec.encode_exception(exc))
            outcome: Result[Any, Any] = Result.Error(exc)
        else:
            try:
                result = codec.dumps(outcomes.encode_result(value), "the workflow's result")
                state, error = "completed", None
                outcome = outcomes.decode_result(codec.loads(result))
            except Exception as failure:
                state, result = "failed", None
                error = codec.dumps(codec.encode_exception(failure))
                outcome = Result.Error(failure)
        try:
            finished = await self.db.write(
                store.finish_execution, run.eid, state, result, error, self.clock(), self.worker_id
            )
        except LeaseLost:
            self.lost(run)
            return
        if self._runs.get(run.eid) is run:
            del self._runs[run.eid]
        if finished:
            self.resolve_finished(run.eid, outcome)

    def resolve_finished(self, eid: str, outcome: Result[Any, Any]) -> None:
        """Tell everyone waiting for ``eid`` its result."""
        self._recent_results[eid] = outcome
        if len(self._recent_results) > RECENT_RESULTS:
            del self._recent_results[next(iter(self._recent_results))]
        for future in self._finished.pop(eid, []):
            if not future.done():
                future.set_result(outcome)

    # ------------------------------------------------------------------ housekeeping
    async def _housekeeping(self) -> None:
        """Evict idle executions and notice what other processes wrote, periodically.

        While PostgreSQL's notifications are heard, the poll is only a safety net and runs
        every ``SAFETY_POLL_SECONDS``; otherwise (SQLite, or the LISTEN connection down)
        every ``poll_interval``.
        """
        polled = time.monotonic()
        while True:
            await asyncio.sleep(self.poll_interval)
            now = time.monotonic()
            for eid, run in list(self._runs.items()):
                if run.idle and now - run.last_active >= self.idle_eviction_seconds:
                    await self.evict(eid, timeout=0)
            listening = self._listener is not None and self._listener.connected.is_set()
            if not listening or now - polled >= max(self.poll_interval, SAFETY_POLL_SECONDS):
                polled = now
                await self._poll_others()

    def _evict_oldest_idle(self) -> None:
        """Keep at most ``max_resident`` executions in memory, dropping the least active."""
        self._cap_scheduled = False
        if len(self._runs) <= self.max_resident:
            return
        idle = sorted((r.last_active, eid) for eid, r in self._runs.items() if r.idle)
        for _, eid in idle[: len(self._runs) - self.max_resident]:
            self._runs.pop(eid).evict()
        if len(self._runs) > self.max_resident and self.running:
            self._cap_scheduled = True
            asyncio.get_running_loop().call_later(0.05, self._evict_oldest_idle)

    async def _poll_others(self) -> None:
        """Signals sent, executions started or cancelled by other processes: the only way
        to hear of them on SQLite, and the safety net for lost notifications."""
        since, self._poll_since = self._poll_since - 1.0, self.clock()
        for row in await self.db.read_tx(worker_queries.changes, since, self.worker_id):
            await self._notice(row)

    async def _notice(self, row: Any) -> None:
        """Act on an execution's row (``queries.changed_since``) that may have changed."""
        run = self._runs.get(row.id)
        if row.state in FINISHED_STATES:
            if run is not None and row.touched_by != self.worker_id:
                self._runs.pop(row.id).evict()
            if row.id in self._finished:
                result = (await self.db.read(queries.state_of, row.id)).result
                if result is not None:
                    self.resolve_finished(row.id, result)
        elif row.lease_owner is None:
            self.want_claim()
        elif row.lease_owner != self.worker_id:
            if run is not None:
                self.lost(run)
        elif run is not None:
            if row.next_completion - 1 > run.last_completion:
                self.fill_gap(run)
        elif row.touched_by != self.worker_id and row.id not in self._loading:
            self._spawn(self._load(row.id))  # its replay schedules its own deadlines

    # ------------------------------------------------------------------ leases
    def _adopt(self, claimed: list[tuple[str, str]]) -> None:
        """Run executions this worker just claimed (by replay)."""
        for eid, workflow in claimed:
            if registry.lookup(workflow) is None:
                log.warning("execution %s: workflow %s is not loaded; left waiting", eid, workflow)
                continue
            if eid not in self._runs and eid not in self._loading:
                self._spawn(self._load(eid))

    def _drop_all(self) -> None:
        """Forget every execution in memory, recording nothing (see ``Membership``)."""
        for run in list(self._runs.values()):
            run.evict()
        self._runs.clear()

    def fill_gap(self, run: Run) -> None:
        """Read completions of ``run`` that another process wrote, and deliver them.

        Asked again while a read is under way, it reads once more afterwards: that read
        may have started before the new completion was committed.
        """
        if run.evicted:
            return
        if run.filling:
            run.refill = True
            return
        run.filling = True

        async def _fill() -> None:
            try:
                attempt = 0
                while not run.evicted:
                    run.refill = False
                    rows = await self.db.read_tx(
                        worker_queries.completions_after, run.eid, run.last_completion
                    )
                    for row in rows:
                        run.deliver(
                            Outcome(
                                row.step_no,
                                row.completion_no,
                                row.result,
                                row.error,
                                void=row.status == "cancelled",
                            )
                        )
                    if run.refill:
                        continue
                    if not run.pending or attempt >= 50:
                        return
                    attempt += 1
                    await asyncio.sleep(0.001 * attempt)
            finally:
                run.filling = False

        self._spawn(_fill())


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("stent background task failed", exc_info=task.exception())
