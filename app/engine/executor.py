"""``Stent``: the public face of the executor (the workflow API and the executor API)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from types import TracebackType
from typing import Any, overload

from . import codec, context, queries, registry, store
from .database import POSTGRES_POOL_SIZE, open_database
from .durations import to_seconds
from .errors import (
    ExecutionCancelled,
    ExecutionNotFound,
    NotSerializable,
    SignalValidationError,
    WorkflowNotRegistered,
)
from .records import (
    ExecutionDetail,
    ExecutionState,
    Page,
    Refusal,
    SignalReceipt,
    SignalRecord,
    StepRecord,
    WaitFilter,
    WorkerInfo,
)
from .registry import DurableFunction, RetryPolicy
from .replay import MISSING
from .result import Result
from .schemas import to_json_schema
from .validation import validator_for_text
from .worker import Worker

Duration = str | int | float | timedelta


class Stent:
    """A durable executor on one database; also the namespace of the workflow API."""

    # ------------------------------------------------------------------ workflow API
    @overload
    @staticmethod
    def durable(fn: Callable[..., Awaitable[Any]], /) -> DurableFunction: ...

    @overload
    @staticmethod
    def durable(
        *,
        retry: RetryPolicy | None = None,
        signals: Mapping[str, object] | None = None,
        subject: Callable[..., str] | None = None,
    ) -> Callable[[Callable[..., Awaitable[Any]]], DurableFunction]: ...

    @staticmethod
    def durable(
        fn: Callable[..., Awaitable[Any]] | None = None,
        /,
        *,
        retry: RetryPolicy | None = None,
        signals: Mapping[str, object] | None = None,
        subject: Callable[..., str] | None = None,
    ) -> Any:
        """Mark an ``async def`` durable: bare, or with a retry policy, signal schemas, and
        ``subject(*args, **kwargs)`` describing an execution in lists."""
        if fn is not None:
            return registry.register(fn)
        return lambda f: registry.register(f, retry, signals, subject)

    @staticmethod
    async def wait_for_signal(
        name: str,
        *,
        schema: object = None,
        title: str | None = None,
        description: str | None = None,
        timeout: Duration | None = None,
        default: Any = MISSING,
        approvers: Sequence[str] | None = None,
        allow_self: bool = False,
    ) -> Any:
        """Pause the workflow until signal ``name`` arrives; returns its payload.

        ``approvers`` (``"group:finance"``, ``"user:cfo@example.com"``) says who may answer
        it in the dashboard (default: as declared on the decorator, else anyone);
        ``allow_self`` lets the execution's initiator answer it.
        """
        run = context.require_run("Stent.wait_for_signal")
        seconds = None if timeout is None else to_seconds(timeout)
        schema_json = to_json_schema(schema)
        spec = store.WaitSpec(
            name,
            None if schema_json is None else codec.dumps(schema_json),
            None if title is None else codec.printable(title),  # words, often from values
            None if description is None else codec.printable(description),
            None,
            registry.principals(approvers),
            allow_self,
        )
        return await run.wait_for_signal(spec, seconds, default)

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
        lease_seconds: float = 15.0,
        pool_size: int = POSTGRES_POOL_SIZE,
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
        self.db = open_database(database_url, sqlite_synchronous, pool_size)
        self.lease_seconds = lease_seconds
        self._worker = Worker(
            self.db,
            clock,
            self.worker_id,
            idle_eviction_seconds=idle_eviction_seconds,
            max_resident=max_resident,
            poll_interval=poll_interval,
            lease_seconds=lease_seconds,
        )

    async def __aenter__(self) -> Stent:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Migrate the database, then (as a worker) resume every unfinished execution."""
        await self.db.start()
        if self.run_worker:
            await self._worker.start()

    async def stop(self) -> None:
        """Stop the worker: executions stay stored and resume on the next start."""
        await self._worker.stop()
        await self.db.stop()

    # ------------------------------------------------------------------ starting
    async def dispatch(
        self, fn: DurableFunction | Callable[..., Any], *args: Any, **kwargs: Any
    ) -> str:
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
        arguments = codec.dumps(
            {"args": list(args), "kwargs": dict(kwargs or {})}, "the workflow's arguments"
        )
        eid = str(uuid.uuid4())
        decoded = codec.loads(arguments)
        email = None if initiator is None else initiator.get("email")
        await self.db.write(
            store.create_execution,
            eid,
            durable.name,
            arguments,
            None if initiator is None else codec.dumps(dict(initiator)),
            email.strip().lower() if isinstance(email, str) else None,
            durable.describe(decoded["args"], decoded["kwargs"]),
            self.clock(),
            self.worker_id,
            self.worker_id if self.run_worker else None,
        )
        self._worker.start_execution(eid, durable, decoded)
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
        wait_id: int | None = None,
    ) -> SignalReceipt:
        """Store a signal durably (FIFO per name) and wake the waiting execution.

        ``wait_id`` (a ``WaitInfo.wait_id``) addresses one open wait: the signal answers
        exactly that wait, or is refused with ``WaitClosed`` when it is no longer open.
        """
        _require_storable_id(execution_id)
        _check_words(name, "signal name")
        if idempotency_key is not None:
            _check_words(idempotency_key, "idempotency key")
        text = _encode_payload(payload, self.max_signal_bytes)
        new = store.NewSignal(
            str(uuid.uuid4()),
            execution_id,
            name,
            text,
            codec.digest(text),
            idempotency_key,
            None if sender is None else codec.dumps(dict(sender), "the sender"),
            wait_id,
        )
        receipt, completion, owner = await self.db.write(
            store.accept_signal,
            new,
            _validator(name, payload),
            self.clock(),
            self.worker_id,
            self.run_worker,
        )
        if owner == self.worker_id:
            self._worker.owned_change(execution_id, completion)
        return receipt  # type: ignore[no-any-return]

    async def cancel(self, execution_id: str) -> bool:
        """Cancel an unfinished execution; False when it had already finished."""
        _require_storable_id(execution_id)
        cancelled = await self.db.write(
            store.cancel_execution, execution_id, self.clock(), self.worker_id
        )
        self._worker.cancelled(
            execution_id, Result.Error(ExecutionCancelled(execution_id)) if cancelled else None
        )
        return bool(cancelled)

    # ------------------------------------------------------------------ reading
    async def state_of(self, execution_id: str) -> ExecutionState:
        """The execution's state, open waits and (once finished) result."""
        _require_storable_id(execution_id)
        return await self.db.read_point(  # type: ignore[no-any-return]
            queries.state_of, execution_id
        )

    async def wait_for(self, execution_id: str, timeout: float | None = None) -> Result[Any, Any]:
        """Wait until the execution finishes; its ``Result``. ``TimeoutError`` on timeout."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            known = self._worker.recent_result(execution_id)
            if known is not None:
                return known
            # Registered before reading, so a finish during the read is not missed.
            future = self._worker.result_future(execution_id)
            try:
                if not self._worker.is_resident(execution_id):
                    # Not running here: finished, or running in another process.
                    state = await self.state_of(execution_id)
                    if state.result is not None:
                        return state.result
                wait = self.poll_interval * 4
                if deadline is not None:
                    wait = min(wait, deadline - loop.time())
                    if wait <= 0:
                        raise TimeoutError(
                            f"execution {execution_id} did not finish in {timeout} s"
                        )
                try:
                    return await asyncio.wait_for(asyncio.shield(future), wait)
                except TimeoutError:
                    continue  # look again: another process may have finished it
            finally:
                self._worker.forget_future(execution_id, future)

    async def list_waiting(
        self,
        *,
        workflow: str | None = None,
        name: str | None = None,
        opened_before: float | None = None,
        execution_id: str | None = None,
        principals: Sequence[str] | None = None,
        not_initiated_by: str | None = None,
        limit: int = 50,
        after: str | None = None,
        newest_first: bool = False,
    ) -> Page:
        """Open waits across executions, oldest first; ``after`` is a previous page's cursor.

        ``opened_before`` (a timestamp) keeps waits at least that old; ``execution_id``
        matches a prefix of the execution's id; ``principals`` keeps the waits those
        principals may answer; ``not_initiated_by`` drops waits of executions that email
        started (unless the wait allows self-answers).
        """
        filters = WaitFilter(
            workflow,
            name,
            opened_before,
            execution_id,
            None if principals is None else tuple(principals),
            not_initiated_by,
        )
        return await self.db.read(  # type: ignore[no-any-return]
            queries.list_waiting, filters, limit, after, newest_first
        )

    async def count_waiting(
        self,
        *,
        workflow: str | None = None,
        name: str | None = None,
        opened_before: float | None = None,
        execution_id: str | None = None,
        principals: Sequence[str] | None = None,
        not_initiated_by: str | None = None,
    ) -> int:
        """How many open waits match (the same filters as ``list_waiting``)."""
        filters = WaitFilter(
            workflow,
            name,
            opened_before,
            execution_id,
            None if principals is None else tuple(principals),
            not_initiated_by,
        )
        return await self.db.read(queries.count_waiting, filters)  # type: ignore[no-any-return]

    async def list_executions(
        self,
        *,
        state: str | None = None,
        workflow: str | None = None,
        waiting: bool | None = None,
        limit: int = 50,
        after: str | None = None,
    ) -> Page:
        """Executions, newest first, filtered by state, workflow and whether they wait."""
        return await self.db.read(  # type: ignore[no-any-return]
            queries.list_executions, state, workflow, waiting, limit, after
        )

    async def execution_detail(self, execution_id: str) -> ExecutionDetail:
        """State, steps, signals and refusals in one read (``ExecutionNotFound`` if none)."""
        _require_storable_id(execution_id)
        return await self.db.read_point(  # type: ignore[no-any-return]
            queries.execution_detail, execution_id
        )

    async def record_refusal(
        self,
        execution_id: str,
        name: str,
        *,
        path: str,
        reason: str,
        sender: Mapping[str, Any] | None = None,
        wait_id: int | None = None,
    ) -> None:
        """Keep an attempt to answer a wait that authorization refused (for auditors)."""
        await self.db.write(
            store.record_refusal,
            str(uuid.uuid4()),
            execution_id,
            wait_id,
            name,
            None if sender is None else codec.dumps(dict(sender)),
            path,
            reason,
            self.clock(),
        )

    async def refusals_of(self, execution_id: str) -> list[Refusal]:
        """Refused attempts to answer the execution's waits, oldest first."""
        return await self.db.read(queries.refusals_of, execution_id)  # type: ignore[no-any-return]

    async def signals_of(self, execution_id: str) -> list[SignalRecord]:
        """Every signal of the execution with its sender and the wait that consumed it."""
        await self._require(execution_id)
        return await self.db.read(queries.signals_of, execution_id)  # type: ignore[no-any-return]

    async def steps_of(self, execution_id: str) -> list[StepRecord]:
        """Every recorded step (activities, waits, timers) of the execution."""
        await self._require(execution_id)
        return await self.db.read(queries.steps_of, execution_id)  # type: ignore[no-any-return]

    async def _require(self, execution_id: str) -> None:
        _require_storable_id(execution_id)
        if await self.db.read(queries.execution_row, execution_id) is None:
            raise ExecutionNotFound(execution_id)

    async def workers(self) -> list[WorkerInfo]:
        """The worker processes sharing this database, with their heartbeats and how many
        unfinished executions each owns (for operators: ``stent-desk workers``)."""
        return await self.db.read(  # type: ignore[no-any-return]
            queries.workers, self.lease_seconds
        )

    def resident(self) -> list[str]:
        """Ids of the executions currently held in memory."""
        return self._worker.resident()

    async def evict(self, execution_id: str, timeout: float = 1.0) -> bool:
        """Drop an execution from memory once it is idle (waiting on a signal or timer).

        Waits up to ``timeout`` seconds for it to become idle; False if it did not (or is
        not in memory). It replays from its history on its next signal or timer.
        """
        return await self._worker.evict(execution_id, timeout)


def _resolve(workflow: DurableFunction | Callable[..., Any] | str) -> DurableFunction:
    if isinstance(workflow, DurableFunction):
        return workflow
    if isinstance(workflow, str):
        found = registry.lookup(workflow)
        if found is None:
            raise WorkflowNotRegistered(workflow)
        return found
    raise TypeError(f"{workflow!r} is not marked @Stent.durable")


def _require_storable_id(execution_id: str) -> None:
    """An id no column can hold (a NUL: PostgreSQL's text cannot) names no execution; say
    so instead of letting the database refuse the query."""
    if "\x00" in execution_id:
        raise ExecutionNotFound(execution_id)


def _check_words(text: str, what: str) -> None:
    """A signal's name or key is stored as plain text: refuse what no column holds."""
    if codec.printable(text) != text:
        message = f"the {what} contains a NUL or a lone surrogate, which cannot be stored"
        raise SignalValidationError(message)


def _encode_payload(payload: Any, limit: int) -> str:
    try:
        text = codec.dumps(payload, "the signal payload")
    except NotSerializable as exc:
        raise SignalValidationError(str(exc), exc.errors) from exc
    size = len(text.encode())
    if size > limit:
        raise SignalValidationError(
            f"the signal payload is {size} bytes; the limit is {limit} bytes"
        )
    return text


def _validator(name: str, payload: Any) -> store.Validate:
    """Checks the payload, inside the send transaction, against every schema known for
    ``name``: the workflow's declaration and the open waits' own schemas."""

    def validate(workflow: str, wait_schemas: list[str]) -> None:
        texts = dict.fromkeys(wait_schemas)
        durable = registry.lookup(workflow)
        if durable is not None and name in durable.signals:
            # a wait's form schema is usually the declared one, stored as the same text:
            # the same schema is checked once
            texts[durable.schema_text(name)] = None
        for text in texts:
            validator_for_text(text).check(payload)

    return validate
