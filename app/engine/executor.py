"""``Stent``: the public face of the executor, and the in-process worker behind it."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from types import TracebackType
from typing import Any, overload

from . import codec, context, queries, registry, store
from .database import SqliteDatabase
from .durations import to_seconds
from .errors import (
    ExecutionCancelled,
    ExecutionNotFound,
    SignalValidationError,
    WorkflowNotRegistered,
)
from .records import (
    FINISHED_STATES,
    ExecutionState,
    Page,
    SignalReceipt,
    SignalRecord,
    StepRecord,
)
from .registry import DurableFunction, RetryPolicy
from .replay import MISSING, Outcome, Recorded, Run
from .result import Result
from .schemas import to_json_schema
from .store import Completion
from .timers import TimerService
from .validation import validator_for

log = logging.getLogger("stent")
Duration = str | int | float | timedelta
RECENT_RESULTS = 10_000


class Stent:
    """A durable executor on one database; also the namespace of the workflow API."""

    # ------------------------------------------------------------------ workflow API
    @overload
    @staticmethod
    def durable(fn: Callable[..., Awaitable[Any]], /) -> DurableFunction: ...

    @overload
    @staticmethod
    def durable(
        *, retry: RetryPolicy | None = None, signals: Mapping[str, object] | None = None
    ) -> Callable[[Callable[..., Awaitable[Any]]], DurableFunction]: ...

    @staticmethod
    def durable(
        fn: Callable[..., Awaitable[Any]] | None = None,
        /,
        *,
        retry: RetryPolicy | None = None,
        signals: Mapping[str, object] | None = None,
    ) -> Any:
        """Mark an ``async def`` durable (bare, or with a retry policy and signal schemas)."""
        if fn is not None:
            return registry.register(fn)
        return lambda f: registry.register(f, retry, signals)

    @staticmethod
    async def wait_for_signal(
        name: str,
        *,
        schema: object = None,
        title: str | None = None,
        description: str | None = None,
        timeout: Duration | None = None,
        default: Any = MISSING,
    ) -> Any:
        """Pause the workflow until signal ``name`` arrives; returns its payload."""
        run = context.require_run("Stent.wait_for_signal")
        seconds = None if timeout is None else to_seconds(timeout)
        return await run.wait_for_signal(name, to_json_schema(schema), title, description,
                                         seconds, default)

    @staticmethod
    async def sleep(duration: Duration) -> None:
        """A durable timer: ``"48h"``, ``"15m"``, seconds or a timedelta."""
        run = context.require_run("Stent.sleep")
        await run.sleep(to_seconds(duration))

    @staticmethod
    def registered() -> dict[str, DurableFunction]:
        """Every durable function of the loaded modules, by name."""
        return registry.registered()

    # ------------------------------------------------------------------ executor
    def __init__(
        self,
        database_url: str = "sqlite+aiosqlite:///stent.db",
        *,
        max_signal_bytes: int = 256 * 1024,
        sqlite_synchronous: str = "FULL",
        idle_eviction_seconds: float = 30.0,
        max_resident: int = 1000,
        poll_interval: float = 0.5,
        run_worker: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.database_url = database_url
        self.max_signal_bytes = max_signal_bytes
        self.idle_eviction_seconds = idle_eviction_seconds
        self.max_resident = max_resident
        self.poll_interval = poll_interval
        self.run_worker = run_worker
        self.clock = clock
        self.worker_id = uuid.uuid4().hex[:16]
        self.db = SqliteDatabase(database_url, sqlite_synchronous)
        self.timers = TimerService(clock, self._fire_deadline)
        self._runs: dict[str, Run] = {}
        self._loading: dict[str, asyncio.Future[Run | None]] = {}
        self._finished: dict[str, list[asyncio.Future[Result[Any, Any]]]] = {}
        # results of executions that finished here lately: wait_for answers from memory
        self._recent_results: dict[str, Result[Any, Any]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._started = False

    async def __aenter__(self) -> Stent:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    async def start(self) -> None:
        """Migrate the database, then (as a worker) resume every unfinished execution."""
        await self.db.start()
        self._started = True
        if not self.run_worker:
            return
        self.timers.start()
        for deadline, eid, step_no in await self.db.read(queries.open_deadlines):
            self.timers.add(deadline, eid, step_no)
        self._poll_since = self.clock()
        self._spawn(self._housekeeping())
        for eid, workflow in await self.db.read(queries.unfinished):
            if registry.lookup(workflow) is None:
                log.warning("execution %s: workflow %s is not loaded; left waiting", eid,
                            workflow)
                continue
            self._spawn(self._load(eid))

    async def stop(self) -> None:
        """Stop the worker: executions stay stored and resume on the next start."""
        for task in list(self._background):
            task.cancel()
        for run in list(self._runs.values()):
            run.evict()
        self._runs.clear()
        await self.timers.stop()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.db.stop()
        self._started = False

    # ------------------------------------------------------------------ starting
    async def dispatch(self, fn: DurableFunction | Callable[..., Any], *args: Any,
                       **kwargs: Any) -> str:
        """Start ``fn(*args, **kwargs)`` as a new execution; returns its id."""
        return await self.start_execution(fn, args=list(args), kwargs=kwargs)

    async def start_execution(
        self,
        workflow: DurableFunction | Callable[..., Any] | str,
        *,
        args: list[Any] | tuple[Any, ...] = (),
        kwargs: Mapping[str, Any] | None = None,
        initiator: Mapping[str, Any] | None = None,
    ) -> str:
        """Start a workflow (function or registered name) with an optional initiator."""
        durable = _resolve(workflow)
        arguments = codec.dumps({"args": list(args), "kwargs": dict(kwargs or {})},
                                "the workflow's arguments")
        eid = str(uuid.uuid4())
        await self.db.write(store.create_execution, eid, durable.name, arguments,
                            None if initiator is None else codec.dumps(dict(initiator)),
                            self.clock(), self.worker_id)
        if self.run_worker:
            self._start_run(eid, durable, codec.loads(arguments), {})
        return eid

    # ------------------------------------------------------------------ signals
    async def send_signal(
        self,
        execution_id: str,
        name: str,
        payload: Any,
        *,
        idempotency_key: str | None = None,
        sender: Mapping[str, Any] | None = None,
    ) -> SignalReceipt:
        """Store a signal durably (FIFO per name) and wake the waiting execution."""
        text = _encode_payload(payload, self.max_signal_bytes)
        new = store.NewSignal(
            str(uuid.uuid4()), execution_id, name, text, codec.digest(text), idempotency_key,
            None if sender is None else codec.dumps(dict(sender), "the sender"))
        receipt, completion = await self.db.write(
            store.accept_signal, new, _validator(name, payload), self.clock(), self.worker_id)
        if completion is not None:
            self._wake(completion)
        return receipt  # type: ignore[no-any-return]

    async def cancel(self, execution_id: str) -> bool:
        """Cancel an unfinished execution; False when it had already finished."""
        cancelled = await self.db.write(store.cancel_execution, execution_id, self.clock(),
                                        self.worker_id)
        run = self._runs.pop(execution_id, None)
        if run is not None:
            run.evict()
        if cancelled:
            self._resolve_finished(execution_id, Result.Error(ExecutionCancelled(execution_id)))
        return bool(cancelled)

    # ------------------------------------------------------------------ reading
    async def state_of(self, execution_id: str) -> ExecutionState:
        """The execution's state, open waits and (once finished) result."""
        return await self.db.read(_state_of, execution_id)  # type: ignore[no-any-return]

    async def wait_for(self, execution_id: str, timeout: float | None = None) -> Result[Any, Any]:
        """Wait until the execution finishes; its ``Result``. ``TimeoutError`` on timeout."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            known = self._recent_results.get(execution_id)
            if known is not None:
                return known
            if execution_id not in self._runs:
                # Not running here: it may be finished, or running in another process.
                state = await self.state_of(execution_id)
                if state.result is not None:
                    return state.result
            future: asyncio.Future[Result[Any, Any]] = loop.create_future()
            self._finished.setdefault(execution_id, []).append(future)
            wait = self.poll_interval * 4
            if deadline is not None:
                wait = min(wait, deadline - loop.time())
                if wait <= 0:
                    raise TimeoutError(f"execution {execution_id} did not finish in {timeout} s")
            try:
                return await asyncio.wait_for(future, wait)
            except TimeoutError:
                continue  # look again: another process may have finished it

    async def list_waiting(self, *, workflow: str | None = None, name: str | None = None,
                           limit: int = 50, after: str | None = None) -> Page:
        """Open waits across executions, oldest first; ``after`` is a previous page's cursor."""
        return await self.db.read(  # type: ignore[no-any-return]
            queries.list_waiting, workflow, name, limit, after)

    async def list_executions(self, *, state: str | None = None, workflow: str | None = None,
                              waiting: bool | None = None, limit: int = 50,
                              after: str | None = None) -> Page:
        """Executions, newest first, filtered by state, workflow and whether they wait."""
        return await self.db.read(  # type: ignore[no-any-return]
            queries.list_executions, state, workflow, waiting, limit, after)

    async def signals_of(self, execution_id: str) -> list[SignalRecord]:
        """Every signal of the execution with its sender and the wait that consumed it."""
        await self._require(execution_id)
        return await self.db.read(queries.signals_of, execution_id)  # type: ignore[no-any-return]

    async def steps_of(self, execution_id: str) -> list[StepRecord]:
        """Every recorded step (activities, waits, timers) of the execution."""
        await self._require(execution_id)
        return await self.db.read(queries.steps_of, execution_id)  # type: ignore[no-any-return]

    async def _require(self, execution_id: str) -> None:
        if await self.db.read(queries.execution_row, execution_id) is None:
            raise ExecutionNotFound(execution_id)

    def resident(self) -> list[str]:
        """Ids of the executions currently held in memory."""
        return list(self._runs)

    async def evict(self, execution_id: str, timeout: float = 1.0) -> bool:
        """Drop an execution from memory once it is idle (waiting on a signal or timer).

        Waits up to ``timeout`` seconds for it to become idle; False if it did not (or is
        not in memory). It replays from its history on its next signal or timer.
        """
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

    # ------------------------------------------------------------------ worker internals
    async def write(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a store transaction (used by the in-memory executions)."""
        return await self.db.write(fn, *args)

    def spawn_write(self, run: Run, fn: Callable[..., Any], *args: Any) -> None:
        """A write nobody awaits (a cancelled step); the run counts as busy until it lands."""
        run.busy += 1

        async def _go() -> None:
            try:
                await self.db.write(fn, *args, self.clock(), self.worker_id)
            finally:
                run.busy -= 1

        self._spawn(_go())

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_failure)
        return task

    def _start_run(self, eid: str, durable: DurableFunction, arguments: Any,
                   history: dict[int, Recorded]) -> Run:
        run = Run(self, eid, durable, arguments, history)
        self._runs[eid] = run
        run.start(self._on_finish)
        if len(self._runs) > self.max_resident:
            self._evict_oldest_idle()
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
            row, steps = await self.db.read(queries.history, eid)
            if row is not None and row.state not in FINISHED_STATES and eid not in self._runs:
                durable = registry.lookup(row.workflow)
                if durable is None:
                    raise WorkflowNotRegistered(row.workflow)
                history = {s.step_no: Recorded(s.kind, s.name, s.status, s.result, s.error,
                                               s.completion_no, s.deadline) for s in steps}
                run = self._start_run(eid, durable, codec.loads(row.arguments), history)
            future.set_result(run or self._runs.get(eid))
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved; the caller of this _load sees it below
            raise
        finally:
            del self._loading[eid]
        return run

    def _wake(self, completion: Completion) -> None:
        """A step of ``completion.execution_id`` completed in storage: deliver it."""
        if not self.run_worker:
            return
        outcome = Outcome(completion.step_no, completion.completion_no, completion.result,
                          completion.error)
        run = self._runs.get(completion.execution_id)
        if run is not None:
            run.deliver(outcome)
            return

        async def _load_and_deliver() -> None:
            loaded = await self._load(completion.execution_id)
            if loaded is not None:
                loaded.deliver(outcome)  # ignored when the history already had it

        self._spawn(_load_and_deliver())

    async def _fire_deadline(self, eid: str, step_no: int) -> None:
        completion = await self.db.write(store.fire_deadline, eid, step_no, self.clock(),
                                         self.worker_id)
        if completion is not None:
            self._wake(completion)

    def run_activity(self, run: Run, step_no: int, durable: DurableFunction,
                     args: list[Any], kwargs: dict[str, Any]) -> asyncio.Task[None]:
        """Run an activity outside the workflow's context, retrying by its policy."""
        ctx = contextvars.copy_context()
        ctx.run(context.set_run, None)
        return asyncio.get_running_loop().create_task(
            self._activity(run, step_no, durable, args, kwargs), context=ctx)

    async def _activity(self, run: Run, step_no: int, durable: DurableFunction,
                        args: list[Any], kwargs: dict[str, Any]) -> None:
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
        completion_no = await run._write(store.record_activity, run.eid, step_no,
                                         durable.name, result, error, attempt, self.clock(),
                                         self.worker_id)
        if completion_no is not None:
            run.deliver(Outcome(step_no, completion_no, result, error))

    async def _on_finish(self, run: Run, value: Any, exc: BaseException | None) -> None:
        if exc is not None:
            state, result, error = "failed", None, codec.dumps(codec.encode_exception(exc))
            outcome: Result[Any, Any] = Result.Error(exc)
        else:
            try:
                result = codec.dumps(_encode_result(value), "the workflow's result")
                state, error = "completed", None
                outcome = _decode_result(codec.loads(result))
            except Exception as failure:
                state, result = "failed", None
                error = codec.dumps(codec.encode_exception(failure))
                outcome = Result.Error(failure)
        finished = await self.db.write(store.finish_execution, run.eid, state, result, error,
                                       self.clock(), self.worker_id)
        if self._runs.get(run.eid) is run:
            del self._runs[run.eid]
        if finished:
            self._resolve_finished(run.eid, outcome)

    def _resolve_finished(self, eid: str, outcome: Result[Any, Any]) -> None:
        self._recent_results[eid] = outcome
        if len(self._recent_results) > RECENT_RESULTS:
            del self._recent_results[next(iter(self._recent_results))]
        for future in self._finished.pop(eid, []):
            if not future.done():
                future.set_result(outcome)

    # ------------------------------------------------------------------ housekeeping
    async def _housekeeping(self) -> None:
        """Evict idle executions and notice what other processes wrote, periodically."""
        while True:
            await asyncio.sleep(self.poll_interval)
            now = time.monotonic()
            for eid, run in list(self._runs.items()):
                if run.idle and now - run.last_active >= self.idle_eviction_seconds:
                    await self.evict(eid, timeout=0)
            await self._poll_others()

    def _evict_oldest_idle(self) -> None:
        idle = sorted((r.last_active, eid) for eid, r in self._runs.items() if r.idle)
        for _, eid in idle[: len(self._runs) - self.max_resident]:
            self._runs.pop(eid).evict()

    async def _poll_others(self) -> None:
        """Signals sent, executions started or cancelled by another process (the CLI)."""
        since, self._poll_since = self._poll_since - 1.0, self.clock()
        for row in await self.db.read(queries.changed_since, since):
            run = self._runs.get(row.id)
            if row.state in FINISHED_STATES:
                if run is not None and row.touched_by != self.worker_id:
                    self._runs.pop(row.id).evict()
                if row.id in self._finished:
                    result = (await self.state_of(row.id)).result
                    if result is not None:
                        self._resolve_finished(row.id, result)
            elif run is not None:
                if row.next_completion - 1 > run.last_completion:
                    self.fill_gap(run)
            elif row.touched_by != self.worker_id and row.id not in self._loading:
                self._spawn(self._load(row.id))
        for deadline, eid, step_no in await self.db.read(queries.open_deadlines):
            self.timers.add(deadline, eid, step_no)

    def fill_gap(self, run: Run) -> None:
        """Read completions of ``run`` that another process wrote, and deliver them."""
        if run.filling or run.evicted:
            return
        run.filling = True

        async def _fill() -> None:
            try:
                for attempt in range(50):
                    rows = await self.db.read(queries.completions_after, run.eid,
                                              run.last_completion)
                    for row in rows:
                        run.deliver(Outcome(row.step_no, row.completion_no, row.result,
                                            row.error, void=row.status == "cancelled"))
                    if not run.pending or run.evicted:
                        return
                    await asyncio.sleep(0.001 * (attempt + 1))
            finally:
                run.filling = False

        self._spawn(_fill())


def _resolve(workflow: DurableFunction | Callable[..., Any] | str) -> DurableFunction:
    if isinstance(workflow, DurableFunction):
        return workflow
    if isinstance(workflow, str):
        found = registry.lookup(workflow)
        if found is None:
            raise WorkflowNotRegistered(workflow)
        return found
    raise TypeError(f"{workflow!r} is not marked @Stent.durable")


def _encode_payload(payload: Any, limit: int) -> str:
    try:
        text = codec.dumps(payload, "the signal payload")
    except TypeError as exc:
        raise SignalValidationError(str(exc)) from exc
    size = len(text.encode())
    if size > limit:
        raise SignalValidationError(
            f"the signal payload is {size} bytes; the limit is {limit} bytes")
    return text


def _validator(name: str, payload: Any) -> store.Validate:
    """Checks the payload, inside the send transaction, against every schema known for
    ``name``: the workflow's declaration and the open waits' own schemas."""

    def validate(workflow: str, wait_schemas: list[str]) -> None:
        durable = registry.lookup(workflow)
        if durable is not None and name in durable.signals:
            validator_for(durable.signals[name]).check(payload)
        for text in wait_schemas:
            validator_for(codec.loads(text)).check(payload)

    return validate


def _state_of(conn: Any, eid: str) -> ExecutionState:
    row = queries.execution_row(conn, eid)
    if row is None:
        raise ExecutionNotFound(eid)
    arguments = codec.loads(row.arguments)
    return ExecutionState(
        id=row.id, workflow=row.workflow, state=row.state, args=arguments["args"],
        kwargs=arguments["kwargs"], initiator=codec.loads(row.initiator),
        created_at=row.created_at, updated_at=row.updated_at, finished_at=row.finished_at,
        waiting_on=queries.open_waits_of(conn, eid),
        result=_stored_result(row),
    )


def _stored_result(row: Any) -> Result[Any, Any] | None:
    if row.state == "completed":
        return _decode_result(codec.loads(row.result))
    if row.state == "failed":
        return Result.Error(codec.decode_exception(codec.loads(row.error)))
    if row.state == "cancelled":
        return Result.Error(ExecutionCancelled(row.id))
    return None


def _encode_result(value: Any) -> dict[str, Any]:
    """A workflow's return value as stored: its own ``Result``, or a plain value."""
    if not isinstance(value, Result):
        return {"kind": "value", "value": value}
    if value.ok:
        return {"kind": "result", "ok": True, "value": value.value}
    if isinstance(value.error, BaseException):
        return {"kind": "result", "ok": False, "exception": codec.encode_exception(value.error)}
    return {"kind": "result", "ok": False, "error": value.error}


def _decode_result(data: dict[str, Any]) -> Result[Any, Any]:
    if data["kind"] == "value" or data["ok"]:
        return Result.Ok(data["value"])
    if "exception" in data:
        return Result.Error(codec.decode_exception(data["exception"]))
    return Result.Error(data["error"])


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("stent background task failed", exc_info=task.exception())
