"""The executor's write transactions, one function each, on a synchronous connection.

Each function is the whole body of one transaction: the database adapter runs it inside
``BEGIN IMMEDIATE`` (SQLite) or a transaction that locks the execution row first
(PostgreSQL), so a send, a wait, a timer and a finish on one execution never interleave.
That exclusion is what the exactly-once invariants below rely on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import codec
from . import statements as q
from .errors import (
    ExecutionFinished,
    ExecutionNotFound,
    IdempotencyKeyConflict,
    LeaseLost,
    SignalTimeout,
    WaitClosed,
)
from .leases import UNOWNED_CHANNEL
from .prepared import Tx
from .records import FINISHED_STATES, SignalReceipt

TIMER_RESULT = "null"


@dataclass(frozen=True)
class Completion:
    """A step that a transaction completed: the in-memory execution must be woken for it."""

    execution_id: str
    step_no: int
    completion_no: int
    result: str | None
    error: str | None = None


def _lock(tx: Tx, eid: str) -> Any:
    """Read (and on PostgreSQL lock) the execution row; every transaction starts here."""
    row = tx.first(q.LOCK_EXECUTION, b_eid=eid)
    if row is None:
        raise ExecutionNotFound(eid)
    return row


def _lock_owned(tx: Tx, eid: str, worker: str) -> Any:
    """``_lock`` for the writes of a running execution: only its owner may make them."""
    row = _lock(tx, eid)
    if row.lease_owner != worker:
        raise LeaseLost(eid, row.lease_owner)
    return row


def _lock_unfinished(tx: Tx, eid: str, worker: str) -> Any:
    row = _lock_owned(tx, eid, worker)
    if row.state in FINISHED_STATES:
        raise ExecutionFinished(eid, row.state)
    return row


CANCELLED = "cancelled"  # a notification's second word: the execution was cancelled


def owner_channel(worker: str) -> str:
    """The PostgreSQL notification channel a worker listens on for its executions."""
    return f"stent_w_{worker}"


def _notify(tx: Tx, channel: str, payload: str) -> None:
    """Wake a listener once this transaction has committed (PostgreSQL; SQLite's workers
    poll). Sent after the commit, not in the transaction: PostgreSQL serializes the
    commits of notifying transactions, fsync included, which capped a cluster at a few
    hundred signals/s. A notification lost to a crash in between is made up by the poll."""
    tx.notify_after_commit(channel, payload)


# PostgreSQL refuses notification payloads of 8,000 bytes or more
NOTIFY_PAYLOAD_LIMIT = 7900


def wake_payload(completion: Completion) -> str:
    """A notification that hands the owner the completion itself (``"<id> <step>
    <completion> <result>"``), so it needs no read; only ``"<id>"`` when the result is too
    long for a notification (the owner then reads it)."""
    text = (
        f"{completion.execution_id} {completion.step_no} {completion.completion_no} "
        f"{completion.result}"
    )
    if (
        completion.error is not None
        or completion.result is None
        or len(text.encode()) > NOTIFY_PAYLOAD_LIMIT
    ):
        return completion.execution_id
    return text


def _route(
    tx: Tx,
    eid: str,
    owner: str | None,
    worker: str | None,
    now: float,
    completion: Completion | None,
) -> str | None:
    """After a change to ``eid`` made by ``worker`` (None: a process running no worker):
    the owner that must act on it. An unowned execution is taken by a worker sender, or
    announced to every worker; another owner is handed the ``completion``, if any."""
    if owner is None:
        if worker is not None:
            tx.execute(q.TAKE_LEASE, b_eid=eid, b_worker=worker, b_now=now)
            return worker
        _notify(tx, UNOWNED_CHANNEL, eid)
        return None
    if owner != worker and completion is not None:
        _notify(tx, owner_channel(owner), wake_payload(completion))
    return str(owner)


def _touch_running(tx: Tx, eid: str, row: Any, now: float, worker: str) -> None:
    """Mark the execution written (and running, if it was pending)."""
    statement = q.TOUCH_RUNNING if row.state == "pending" else q.TOUCH
    tx.execute(statement, b_eid=eid, b_now=now, b_worker=worker)


def _take_completion_no(tx: Tx, eid: str, row: Any, now: float, worker: str) -> int:
    """Allocate the next completion number; also moves a pending execution to running.

    Replay hands step results to the workflow in this order (see ``replay.Run.deliver``).
    """
    number = int(row.next_completion)
    tx.execute(
        q.TAKE_COMPLETION, b_eid=eid, b_next_completion=number + 1, b_now=now, b_worker=worker
    )
    return number


def _complete_step(
    tx: Tx,
    eid: str,
    step_no: int,
    completion: int,
    result: str | None,
    error: str | None,
    now: float,
) -> None:
    tx.execute(
        q.COMPLETE_STEP,
        b_eid=eid,
        b_step=step_no,
        b_status="done" if error is None else "failed",
        b_result=result,
        b_error=error,
        b_completion_no=completion,
        b_now=now,
    )


def _insert_step(
    tx: Tx, eid: str, step_no: int, kind: str, name: str, now: float, **values: Any
) -> None:
    columns = {
        "b_status": "open",
        "b_result": None,
        "b_error": None,
        "b_completion_no": None,
        "b_attempts": 0,
        "b_schema": None,
        "b_title": None,
        "b_description": None,
        "b_deadline": None,
        "b_completed_at": None,
        "b_approvers": None,
        "b_allow_self": False,
        "b_workflow": None,
        "b_initiator_email": None,
    }
    columns.update({f"b_{key}": value for key, value in values.items()})
    tx.execute(
        q.INSERT_STEP, b_eid=eid, b_step=step_no, b_kind=kind, b_name=name, b_now=now, **columns
    )


def create_execution(
    tx: Tx,
    eid: str,
    workflow: str,
    arguments: str,
    initiator: str | None,
    initiator_email: str | None,
    subject: str | None,
    now: float,
    worker: str,
    owner: str | None,
) -> None:
    """Store a new execution in state pending, owned by ``owner`` (the starting worker), or
    unowned and announced to the workers when the starting process runs none."""
    tx.execute(
        q.INSERT_EXECUTION,
        b_eid=eid,
        b_workflow=workflow,
        b_arguments=arguments,
        b_initiator=initiator,
        b_initiator_email=initiator_email,
        b_subject=subject,
        b_now=now,
        b_worker=worker,
        b_owner=owner,
        b_leased_at=None if owner is None else now,
    )
    if owner is None:
        _notify(tx, UNOWNED_CHANNEL, eid)


def record_activity(
    tx: Tx,
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
    row = _lock_owned(tx, eid, worker)
    if row.state in FINISHED_STATES:
        return None
    completion = _take_completion_no(tx, eid, row, now, worker)
    _insert_step(
        tx,
        eid,
        step_no,
        "activity",
        name,
        now,
        status="failed" if error is not None else "done",
        result=result,
        error=error,
        completion_no=completion,
        attempts=attempts,
        completed_at=now,
    )
    return completion


@dataclass(frozen=True)
class WaitSpec:
    """What a new wait stores: its signal name, form schema, words and approvers."""

    name: str
    schema: str | None = None
    title: str | None = None
    description: str | None = None
    deadline: float | None = None
    approvers: tuple[str, ...] | None = None
    allow_self: bool = False


def open_wait(
    tx: Tx, eid: str, step_no: int, spec: WaitSpec, now: float, worker: str
) -> Completion | None:
    """Record wait ``step_no``; if a signal of its name is buffered, consume the oldest now.

    Exactly-once: the consumption and the step's result are written in this one
    transaction, so a replay finds the step done with the same payload.
    """
    row = _lock_unfinished(tx, eid, worker)
    name = spec.name
    _insert_step(
        tx,
        eid,
        step_no,
        "wait",
        name,
        now,
        schema=spec.schema,
        title=spec.title,
        description=spec.description,
        deadline=spec.deadline,
        approvers=None if spec.approvers is None else codec.dumps(list(spec.approvers)),
        allow_self=spec.allow_self,
        workflow=row.workflow,
        initiator_email=row.initiator_email,
    )
    for principal in spec.approvers or ():
        tx.execute(q.INSERT_WAIT_APPROVER, b_eid=eid, b_step=step_no, b_principal=principal)
    buffered = tx.first(q.OLDEST_BUFFERED, b_eid=eid, b_name=name)
    if buffered is None:
        _touch_running(tx, eid, row, now, worker)
        return None
    completion = _take_completion_no(tx, eid, row, now, worker)
    tx.execute(q.CONSUME_SIGNAL, b_signal=buffered.id, b_step=step_no, b_now=now)
    _complete_step(tx, eid, step_no, completion, buffered.payload, None, now)
    return Completion(eid, step_no, completion, buffered.payload)


def open_timer(
    tx: Tx, eid: str, step_no: int, name: str, deadline: float, now: float, worker: str
) -> None:
    """Record timer ``step_no`` with its absolute deadline (never recomputed on restart)."""
    row = _lock_unfinished(tx, eid, worker)
    _insert_step(tx, eid, step_no, "timer", name, now, deadline=deadline)
    _touch_running(tx, eid, row, now, worker)


def fire_deadline(tx: Tx, eid: str, step_no: int, now: float, worker: str) -> Completion | None:
    """Complete an open timer, or time out an open wait; None if it is no longer open.

    A timed-out wait is stored as failed with a ``SignalTimeout``: it consumed nothing,
    and no payload can ever be mistaken for a timeout.
    """
    row = _lock_owned(tx, eid, worker)
    step = tx.first(q.STEP_STATE, b_eid=eid, b_step=step_no)
    if row.state in FINISHED_STATES or step is None or step.status != "open":
        return None
    completion = _take_completion_no(tx, eid, row, now, worker)
    result: str | None = TIMER_RESULT
    error: str | None = None
    if step.kind == "wait":
        timeout = SignalTimeout(step.name, step.deadline - step.created_at)
        result, error = None, codec.dumps(codec.encode_exception(timeout))
    _complete_step(tx, eid, step_no, completion, result, error, now)
    return Completion(eid, step_no, completion, result, error)


def cancel_step(tx: Tx, eid: str, step_no: int, now: float, worker: str) -> None:
    """Record that the workflow cancelled a step (the loser of ``asyncio.wait``).

    A wait that consumed a signal the workflow never saw hands it back: the signal is
    buffered again with its original sequence number, so a later wait gets it in order.
    The step keeps its completion number, which replay then skips.
    """
    _lock_owned(tx, eid, worker)
    tx.execute(q.RETURN_SIGNAL, b_eid=eid, b_step=step_no)
    tx.execute(q.CANCEL_STEP, b_eid=eid, b_step=step_no, b_now=now)
    tx.execute(q.TOUCH, b_eid=eid, b_now=now, b_worker=worker)


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
    wait_id: int | None = None


# validate(workflow, schemas of the open waits on the signal's name) raises on a bad payload
Validate = Callable[[str, list[str]], None]


def _duplicate(tx: Tx, sig: NewSignal) -> SignalReceipt | None:
    """The receipt of an earlier signal with the same idempotency key, if any."""
    if sig.idempotency_key is None:
        return None
    prior = tx.first(q.SIGNAL_BY_KEY, b_eid=sig.execution_id, b_key=sig.idempotency_key)
    if prior is None:
        return None
    if prior.payload_hash != sig.payload_hash or prior.name != sig.name:
        raise IdempotencyKeyConflict(sig.execution_id, sig.idempotency_key)
    return SignalReceipt(
        prior.id, sig.execution_id, prior.name, prior.seq, True, prior.consumed_by_step
    )


def accept_signal(
    tx: Tx, sig: NewSignal, validate: Validate, now: float, worker: str, runs_worker: bool
) -> tuple[SignalReceipt, Completion | None, str | None]:
    """Store a signal and hand it to the oldest open wait of its name, if there is one.

    Because a wait consumes the oldest buffered signal when it opens (``open_wait``), an
    open wait and a buffered signal of one name never coexist; so the new signal is the
    oldest deliverable one and goes straight to the oldest open wait (FIFO on both sides).
    ``validate`` raises ``SignalValidationError``; nothing is written then.
    Also returns the execution's owner: the caller wakes it when that is its own worker.
    """
    eid = sig.execution_id
    row = _lock(tx, eid)
    duplicate = _duplicate(tx, sig)
    if duplicate is not None:
        return duplicate, None, row.lease_owner
    if row.state in FINISHED_STATES:
        if sig.wait_id is not None:
            _answered_wait(tx, sig)
        raise ExecutionFinished(eid, row.state)
    waits = (
        tx.all(q.OPEN_WAITS_ON, b_eid=eid, b_name=sig.name)
        if sig.wait_id is None
        else _addressed_wait(tx, sig)
    )
    validate(row.workflow, [w.schema for w in waits if w.schema is not None])
    seq = int(row.next_signal_seq)
    completion: Completion | None = None
    if waits:
        number = int(row.next_completion)
        completion = Completion(eid, int(waits[0].step_no), number, sig.payload)
        tx.execute(
            q.TAKE_SIGNAL_SEQ_AND_COMPLETION,
            b_eid=eid,
            b_next_signal_seq=seq + 1,
            b_next_completion=number + 1,
            b_now=now,
            b_worker=worker,
        )
    else:
        tx.execute(
            q.TAKE_SIGNAL_SEQ, b_eid=eid, b_next_signal_seq=seq + 1, b_now=now, b_worker=worker
        )
    tx.execute(
        q.INSERT_SIGNAL,
        b_signal=sig.signal_id,
        b_eid=eid,
        b_seq=seq,
        b_name=sig.name,
        b_payload=sig.payload,
        b_payload_hash=sig.payload_hash,
        b_key=sig.idempotency_key,
        b_sender=sig.sender,
        b_state="consumed" if completion else "buffered",
        b_step=completion.step_no if completion else None,
        b_now=now,
        b_consumed_at=now if completion else None,
    )
    if completion is not None:
        _complete_step(
            tx, eid, completion.step_no, completion.completion_no, sig.payload, None, now
        )
    receipt = SignalReceipt(
        sig.signal_id, eid, sig.name, seq, False, completion.step_no if completion else None
    )
    owner = _route(tx, eid, row.lease_owner, worker if runs_worker else None, now, completion)
    return receipt, completion, owner


def _addressed_wait(tx: Tx, sig: NewSignal) -> list[Any]:
    """The one open wait a signal is addressed to; ``WaitClosed`` when it is not open.

    Two approvers answering one wait are serialized by the execution lock: the second
    finds the wait done and hears who answered it and when.
    """
    wait = tx.first(q.WAIT_ANSWER, b_eid=sig.execution_id, b_step=sig.wait_id)
    if wait is None or wait.kind != "wait" or wait.name != sig.name:
        raise WaitClosed(sig.execution_id, sig.wait_id or 0, sig.name, "unknown")
    if wait.status != "open":
        status = (
            "timed out"
            if wait.status == "failed"
            else ("answered" if wait.status == "done" else "cancelled")
        )
        raise WaitClosed(
            sig.execution_id,
            sig.wait_id or 0,
            sig.name,
            status,
            codec.loads(wait.sender),
            wait.received_at or wait.completed_at,
        )
    return [wait]


def _answered_wait(tx: Tx, sig: NewSignal) -> None:
    """``WaitClosed`` (by whom, when) if the addressed wait of a finished execution was
    answered or timed out: a second approver hears that even when the first one's answer
    already let the execution finish (across processes, or on PostgreSQL's parallel writes).
    """
    try:
        _addressed_wait(tx, sig)
    except WaitClosed as closed:
        if closed.status in {"answered", "timed out"}:
            raise


def _close(tx: Tx, eid: str, now: float) -> None:
    """Open steps become cancelled; buffered signals become unconsumed (kept, visible)."""
    tx.execute(q.CLOSE_OPEN_STEPS, b_eid=eid, b_now=now)
    tx.execute(q.KEEP_BUFFERED_AS_UNCONSUMED, b_eid=eid)


def finish_execution(
    tx: Tx, eid: str, state: str, result: str | None, error: str | None, now: float, worker: str
) -> bool:
    """Complete or fail an execution; False when it was already finished (cancelled).

    Holding the same lock as ``accept_signal`` is what keeps a signal from being accepted
    into an execution that is finishing.
    """
    row = _lock_owned(tx, eid, worker)
    if row.state in FINISHED_STATES:
        return False
    tx.execute(
        q.FINISH_EXECUTION,
        b_eid=eid,
        b_state=state,
        b_result=result,
        b_error=error,
        b_now=now,
        b_worker=worker,
    )
    _close(tx, eid, now)
    return True


def cancel_execution(tx: Tx, eid: str, now: float, worker: str) -> bool:
    """Cancel an unfinished execution; False when it had already finished. The owner, if
    another process, is told to drop it."""
    row = _lock(tx, eid)
    if row.state in FINISHED_STATES:
        return False
    tx.execute(
        q.FINISH_EXECUTION,
        b_eid=eid,
        b_state="cancelled",
        b_result=None,
        b_error=None,
        b_now=now,
        b_worker=worker,
    )
    _close(tx, eid, now)
    if row.lease_owner is not None and row.lease_owner != worker:
        _notify(tx, owner_channel(row.lease_owner), f"{eid} {CANCELLED}")
    return True


def record_refusal(
    tx: Tx,
    refusal_id: str,
    eid: str,
    wait_id: int | None,
    name: str,
    sender: str | None,
    path: str,
    reason: str,
    now: float,
) -> None:
    """Keep a refused attempt to answer a wait, for auditors."""
    tx.execute(
        q.INSERT_REFUSAL,
        b_id=refusal_id,
        b_eid=eid,
        b_step=wait_id,
        b_name=name,
        b_sender=sender,
        b_path=path,
        b_reason=reason,
        b_now=now,
    )
