"""The executor's write transactions, one function each, on a synchronous connection.

Each function is the whole body of one transaction: the database adapter runs it inside
``BEGIN IMMEDIATE`` (SQLite) or a transaction that locks the execution row first
(PostgreSQL), so a send, a wait, a timer and a finish on one execution never interleave.
That exclusion is what the exactly-once invariants below rely on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update

from . import codec
from .errors import (
    ExecutionFinished,
    ExecutionNotFound,
    IdempotencyKeyConflict,
    SignalTimeout,
)
from .records import FINISHED_STATES, SignalReceipt
from .tables import executions as ex
from .tables import signals as sg
from .tables import steps as st


@dataclass(frozen=True)
class Completion:
    """A step that a transaction completed: the in-memory execution must be woken for it."""

    execution_id: str
    step_no: int
    completion_no: int
    result: str | None
    error: str | None = None


def _lock(conn: Connection, eid: str) -> Any:
    """Read (and on PostgreSQL lock) the execution row; every transaction starts here."""
    row = conn.execute(
        select(ex.c.state, ex.c.next_signal_seq, ex.c.next_completion, ex.c.workflow)
        .where(ex.c.id == eid)
        .with_for_update()
    ).first()
    if row is None:
        raise ExecutionNotFound(eid)
    return row


def _touch(conn: Connection, eid: str, now: float, worker: str, **values: Any) -> None:
    conn.execute(
        update(ex).where(ex.c.id == eid).values(updated_at=now, touched_by=worker, **values)
    )


def _take_completion_no(conn: Connection, eid: str, row: Any, now: float, worker: str) -> int:
    """Allocate the next completion number; also moves a pending execution to running."""
    values: dict[str, Any] = {"next_completion": row.next_completion + 1}
    if row.state == "pending":
        values["state"] = "running"
    _touch(conn, eid, now, worker, **values)
    return int(row.next_completion)


def create_execution(
    conn: Connection,
    eid: str,
    workflow: str,
    arguments: str,
    initiator: str | None,
    now: float,
    worker: str,
) -> None:
    """Store a new execution in state pending."""
    conn.execute(
        insert(ex).values(
            id=eid, workflow=workflow, arguments=arguments, state="pending",
            initiator=initiator, created_at=now, updated_at=now, touched_by=worker,
        )
    )


def record_activity(
    conn: Connection,
    eid: str,
    step_no: int,
    name: str,
    result: str | None,
    error: str | None,
    attempts: int,
    now: float,
    worker: str,
) -> int | None:
    """Store an activity's final outcome; None when the execution finished meanwhile."""
    row = _lock(conn, eid)
    if row.state in FINISHED_STATES:
        return None
    completion = _take_completion_no(conn, eid, row, now, worker)
    conn.execute(
        insert(st).values(
            execution_id=eid, step_no=step_no, kind="activity", name=name,
            status="failed" if error is not None else "done", result=result, error=error,
            completion_no=completion, attempts=attempts, created_at=now, completed_at=now,
        )
    )
    return completion


def _oldest_buffered(conn: Connection, eid: str, name: str) -> Any:
    return conn.execute(
        select(sg.c.id, sg.c.payload)
        .where(and_(sg.c.execution_id == eid, sg.c.name == name, sg.c.state == "buffered"))
        .order_by(sg.c.seq)
        .limit(1)
    ).first()


def _consume(conn: Connection, eid: str, signal_id: str, step_no: int, now: float) -> None:
    conn.execute(
        update(sg)
        .where(sg.c.id == signal_id)
        .values(state="consumed", consumed_by_step=step_no, consumed_at=now)
    )


def _complete_step(
    conn: Connection, eid: str, step_no: int, completion: int, result: str | None, now: float
) -> None:
    conn.execute(
        update(st)
        .where(and_(st.c.execution_id == eid, st.c.step_no == step_no))
        .values(status="done", result=result, completion_no=completion, completed_at=now)
    )


def open_wait(
    conn: Connection,
    eid: str,
    step_no: int,
    name: str,
    schema: str | None,
    title: str | None,
    description: str | None,
    deadline: float | None,
    now: float,
    worker: str,
) -> Completion | None:
    """Record wait ``step_no``; if a signal of its name is buffered, consume the oldest now.

    Exactly-once: the consumption and the step's result are written in this one
    transaction, so a replay finds the step done with the same payload.
    """
    row = _lock(conn, eid)
    if row.state in FINISHED_STATES:
        raise ExecutionFinished(eid, row.state)
    conn.execute(
        insert(st).values(
            execution_id=eid, step_no=step_no, kind="wait", name=name, status="open",
            schema=schema, title=title, description=description, deadline=deadline,
            created_at=now,
        )
    )
    buffered = _oldest_buffered(conn, eid, name)
    if buffered is None:
        _touch(conn, eid, now, worker, **({"state": "running"} if row.state == "pending" else {}))
        return None
    completion = _take_completion_no(conn, eid, row, now, worker)
    _consume(conn, eid, buffered.id, step_no, now)
    _complete_step(conn, eid, step_no, completion, buffered.payload, now)
    return Completion(eid, step_no, completion, buffered.payload)


def open_timer(
    conn: Connection, eid: str, step_no: int, name: str, deadline: float, now: float, worker: str
) -> None:
    """Record timer ``step_no`` with its absolute deadline (never recomputed on restart)."""
    row = _lock(conn, eid)
    if row.state in FINISHED_STATES:
        raise ExecutionFinished(eid, row.state)
    conn.execute(
        insert(st).values(
            execution_id=eid, step_no=step_no, kind="timer", name=name, status="open",
            deadline=deadline, created_at=now,
        )
    )
    _touch(conn, eid, now, worker, **({"state": "running"} if row.state == "pending" else {}))


def fire_deadline(
    conn: Connection, eid: str, step_no: int, now: float, worker: str
) -> Completion | None:
    """Complete an open timer, or time out an open wait; None if it is no longer open.

    A timed-out wait is stored as failed with a ``SignalTimeout``: it consumed nothing,
    and no payload can ever be mistaken for a timeout.
    """
    row = _lock(conn, eid)
    step = conn.execute(
        select(st.c.kind, st.c.name, st.c.status, st.c.deadline, st.c.created_at)
        .where(and_(st.c.execution_id == eid, st.c.step_no == step_no))
    ).first()
    if row.state in FINISHED_STATES or step is None or step.status != "open":
        return None
    completion = _take_completion_no(conn, eid, row, now, worker)
    result: str | None = "null"
    error: str | None = None
    if step.kind == "wait":
        timeout = SignalTimeout(step.name, step.deadline - step.created_at)
        result, error = None, codec.dumps(codec.encode_exception(timeout))
    conn.execute(
        update(st)
        .where(and_(st.c.execution_id == eid, st.c.step_no == step_no))
        .values(status="done" if error is None else "failed", result=result, error=error,
                completion_no=completion, completed_at=now)
    )
    return Completion(eid, step_no, completion, result, error)


def cancel_step(conn: Connection, eid: str, step_no: int, now: float, worker: str) -> None:
    """Record that the workflow cancelled a step (the loser of ``asyncio.wait``).

    A wait that consumed a signal the workflow never saw hands it back: the signal is
    buffered again with its original sequence number, so a later wait gets it in order.
    """
    _lock(conn, eid)
    conn.execute(
        update(sg)
        .where(
            and_(sg.c.execution_id == eid, sg.c.consumed_by_step == step_no,
                 sg.c.state == "consumed")
        )
        .values(state="buffered", consumed_by_step=None, consumed_at=None)
    )
    conn.execute(
        update(st)
        .where(and_(st.c.execution_id == eid, st.c.step_no == step_no))
        .values(status="cancelled", result=None, completed_at=now)
    )
    _touch(conn, eid, now, worker)


def find_signal_by_key(conn: Connection, eid: str, key: str) -> Any:
    """The signal stored under an idempotency key, if any."""
    return conn.execute(
        select(sg.c.id, sg.c.seq, sg.c.name, sg.c.payload_hash, sg.c.consumed_by_step)
        .where(and_(sg.c.execution_id == eid, sg.c.idempotency_key == key))
    ).first()


def open_wait_schemas(conn: Connection, eid: str, name: str) -> list[str]:
    """Schemas of the open waits on ``name``: a signal must satisfy them to be accepted."""
    rows = conn.execute(
        select(st.c.schema).where(
            and_(st.c.execution_id == eid, st.c.kind == "wait", st.c.name == name,
                 st.c.status == "open", st.c.schema.is_not(None))
        )
    )
    return [r.schema for r in rows]


@dataclass(frozen=True)
class NewSignal:
    """A signal about to be accepted; the payload is already encoded and size-checked."""

    signal_id: str
    execution_id: str
    name: str
    payload: str
    payload_hash: str
    idempotency_key: str | None
    sender: str | None


def accept_signal(
    conn: Connection,
    sig: NewSignal,
    validate: Any,
    now: float,
    worker: str,
) -> tuple[SignalReceipt, Completion | None]:
    """Store a signal and hand it to the oldest open wait of its name, if there is one.

    Because a wait consumes the oldest buffered signal when it opens (``open_wait``), an
    open wait and a buffered signal of one name never coexist; so the new signal is the
    oldest deliverable one and goes straight to the oldest open wait (FIFO on both sides).
    ``validate(conn, execution_id, workflow)`` raises ``SignalValidationError``;
    nothing is written then.
    """
    eid = sig.execution_id
    row = _lock(conn, eid)
    if sig.idempotency_key is not None:
        prior = find_signal_by_key(conn, eid, sig.idempotency_key)
        if prior is not None:
            if prior.payload_hash != sig.payload_hash or prior.name != sig.name:
                raise IdempotencyKeyConflict(eid, sig.idempotency_key)
            receipt = SignalReceipt(prior.id, eid, prior.name, prior.seq, True,
                                    prior.consumed_by_step)
            return receipt, None
    if row.state in FINISHED_STATES:
        raise ExecutionFinished(eid, row.state)
    validate(conn, eid, row.workflow)
    seq = int(row.next_signal_seq)
    waiter = conn.execute(
        select(func.min(st.c.step_no)).where(
            and_(st.c.execution_id == eid, st.c.kind == "wait", st.c.name == sig.name,
                 st.c.status == "open")
        )
    ).scalar()
    values: dict[str, Any] = {"next_signal_seq": seq + 1}
    completion: Completion | None = None
    if waiter is not None:
        number = int(row.next_completion)
        values["next_completion"] = number + 1
        values["state"] = "running"
        completion = Completion(eid, int(waiter), number, sig.payload)
    _touch(conn, eid, now, worker, **values)
    conn.execute(
        insert(sg).values(
            id=sig.signal_id, execution_id=eid, seq=seq, name=sig.name, payload=sig.payload,
            payload_hash=sig.payload_hash, idempotency_key=sig.idempotency_key,
            sender=sig.sender, state="consumed" if completion else "buffered",
            consumed_by_step=completion.step_no if completion else None,
            received_at=now, consumed_at=now if completion else None,
        )
    )
    if completion is not None:
        _complete_step(conn, eid, completion.step_no, completion.completion_no, sig.payload, now)
    receipt = SignalReceipt(sig.signal_id, eid, sig.name, seq, False,
                            completion.step_no if completion else None)
    return receipt, completion


def _close(conn: Connection, eid: str, now: float) -> None:
    """Open steps become cancelled; buffered signals become unconsumed (kept, visible)."""
    conn.execute(
        update(st)
        .where(and_(st.c.execution_id == eid, st.c.status == "open"))
        .values(status="cancelled", completed_at=now)
    )
    conn.execute(
        update(sg)
        .where(and_(sg.c.execution_id == eid, sg.c.state == "buffered"))
        .values(state="unconsumed")
    )


def finish_execution(
    conn: Connection,
    eid: str,
    state: str,
    result: str | None,
    error: str | None,
    now: float,
    worker: str,
) -> bool:
    """Complete or fail an execution; False when it was already finished (cancelled).

    Holding the same lock as ``accept_signal`` is what keeps a signal from being accepted
    into an execution that is finishing.
    """
    row = _lock(conn, eid)
    if row.state in FINISHED_STATES:
        return False
    _touch(conn, eid, now, worker, state=state, result=result, error=error, finished_at=now)
    _close(conn, eid, now)
    return True


def cancel_execution(conn: Connection, eid: str, now: float, worker: str) -> bool:
    """Cancel an unfinished execution; False when it had already finished."""
    row = _lock(conn, eid)
    if row.state in FINISHED_STATES:
        return False
    _touch(conn, eid, now, worker, state="cancelled", finished_at=now)
    _close(conn, eid, now)
    return True
