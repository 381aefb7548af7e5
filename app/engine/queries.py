"""The executor's read queries, one function each, on a synchronous connection."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, tuple_

from . import codec, outcomes
from .errors import ExecutionNotFound
from .leases import db_now
from .records import (
    ExecutionDetail,
    ExecutionState,
    ExecutionSummary,
    Page,
    Refusal,
    SignalRecord,
    StepRecord,
    WaitFilter,
    WaitInfo,
    WorkerInfo,
)
from .tables import executions as ex
from .tables import refusals as rf
from .tables import signals as sg
from .tables import steps as st
from .tables import wait_approvers as wa
from .tables import workers as wk


def encode_cursor(values: Sequence[Any]) -> str:
    """An opaque keyset cursor."""
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode()


def decode_cursor(cursor: str) -> list[Any]:
    """The keyset values inside a cursor; ``ValueError`` when it was tampered with."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"invalid cursor {cursor!r}") from exc
    if not isinstance(values, list):
        raise ValueError(f"invalid cursor {cursor!r}")
    return values


def execution_row(conn: Connection, eid: str) -> Any:
    """The execution's row, or None."""
    return conn.execute(select(ex).where(ex.c.id == eid)).first()


def _wait_info(row: Any) -> WaitInfo:
    return WaitInfo(
        execution_id=row.execution_id,
        workflow=row.workflow,
        step_no=row.step_no,
        name=row.name,
        schema=codec.loads(row.schema),
        title=row.title,
        description=row.description,
        since=row.created_at,
        deadline=row.deadline,
        subject=row.subject,
        approvers=None if row.approvers is None else tuple(codec.loads(row.approvers)),
        allow_self=bool(row.allow_self),
        initiator_email=row.initiator_email,
    )


_WAIT_COLUMNS = (
    st.c.execution_id,
    ex.c.workflow,
    st.c.step_no,
    st.c.name,
    st.c.schema,
    st.c.title,
    st.c.description,
    st.c.created_at,
    st.c.deadline,
    ex.c.subject,
    st.c.approvers,
    st.c.allow_self,
    ex.c.initiator_email,
)


def open_waits_of(conn: Connection, eid: str) -> list[WaitInfo]:
    """The open waits of one execution, oldest first."""
    rows = conn.execute(
        select(*_WAIT_COLUMNS)
        .join(ex, ex.c.id == st.c.execution_id)
        .where(and_(st.c.execution_id == eid, st.c.kind == "wait", st.c.status == "open"))
        .order_by(st.c.step_no)
    )
    return [_wait_info(r) for r in rows]


def _with_execution_ids(conn: Connection, filters: WaitFilter) -> tuple[str, ...] | None:
    """The executions an id prefix names, read first through executions' primary key:
    the planner would otherwise scan every open wait for a LIKE or a range."""
    if not filters.execution_id:
        return None
    prefix = filters.execution_id.lower()
    if not set(prefix) <= _UUID_CHARS:
        return ()  # execution ids are UUIDs: nothing else can match
    # "g" sorts after every hex digit and "-" in C and linguistic collations alike (a
    # "\uffff" bound is not safe in every PostgreSQL collation); the range may hold a few
    # more ids under a linguistic collation, so the prefix is checked again here.
    rows = conn.execute(
        select(ex.c.id)
        .where(and_(ex.c.id >= prefix, ex.c.id < prefix + "g"))
        .limit(MAX_PREFIX_MATCHES)
    )
    return tuple(found for found in rows.scalars() if found.startswith(prefix))


MAX_PREFIX_MATCHES = 1000
_UUID_CHARS = frozenset("0123456789abcdef-")


def _waiting_query(
    columns: Any, filters: WaitFilter, join: bool, execution_ids: tuple[str, ...] | None
) -> Any:
    """Open waits matching ``filters``. Every filter is on ``steps`` itself (workflow and
    initiator are copied there), so counting needs no join; ``join`` adds the execution's
    columns for a page of rows."""
    query = select(*columns)
    if join:
        query = query.join(ex, ex.c.id == st.c.execution_id)
    if execution_ids is None:
        query = query.where(and_(st.c.kind == "wait", st.c.status == "open"))
    else:
        # a few executions named by id: read their steps through the execution-id index.
        # Written so that no index serves kind and status, or the planner walks every
        # open wait in date order (for the ORDER BY ... LIMIT) checking each id: 200 ms
        # at 100,000 open waits instead of a few.
        query = query.where(
            and_(
                st.c.execution_id.in_(execution_ids),
                func.coalesce(st.c.kind, "") == "wait",
                func.coalesce(st.c.status, "") == "open",
            )
        )
    if filters.workflow is not None:
        query = query.where(st.c.workflow == filters.workflow)
    if filters.name is not None:
        query = query.where(st.c.name == filters.name)
    if filters.opened_before is not None:
        query = query.where(st.c.created_at <= filters.opened_before)
    if filters.principals is not None:
        listed = select(wa.c.principal).where(
            and_(
                wa.c.execution_id == st.c.execution_id,
                wa.c.step_no == st.c.step_no,
                wa.c.principal.in_(filters.principals),
            )
        )
        query = query.where(or_(st.c.approvers.is_(None), listed.exists()))
    if filters.not_initiated_by is not None:
        query = query.where(
            or_(
                st.c.allow_self,
                st.c.initiator_email.is_(None),
                st.c.initiator_email != filters.not_initiated_by.lower(),
            )
        )
    return query


def list_waiting(
    conn: Connection, filters: WaitFilter, limit: int, after: str | None, newest_first: bool
) -> Page:
    """Open waits across executions, oldest (or newest) first, keyset-paginated."""
    query = _waiting_query(_WAIT_COLUMNS, filters, True, _with_execution_ids(conn, filters))
    key_columns = tuple_(st.c.created_at, st.c.execution_id, st.c.step_no)
    if after is not None:
        key = tuple_(*decode_cursor(after))
        query = query.where(key_columns < key if newest_first else key_columns > key)
    order: list[Any] = [st.c.created_at, st.c.execution_id, st.c.step_no]
    if newest_first:
        order = [column.desc() for column in order]
    rows = conn.execute(query.order_by(*order).limit(limit + 1)).all()
    items = [_wait_info(r) for r in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    cursor = encode_cursor([last.created_at, last.execution_id, last.step_no]) if last else None
    return Page(items, cursor)


def count_waiting(conn: Connection, filters: WaitFilter) -> int:
    """How many open waits match the filters (the inbox's count)."""
    query = _waiting_query([func.count()], filters, False, _with_execution_ids(conn, filters))
    return int(conn.execute(query).scalar_one())


def list_executions(
    conn: Connection,
    state: str | None,
    workflow: str | None,
    waiting: bool | None,
    limit: int,
    after: str | None,
) -> Page:
    """Executions, newest first, keyset-paginated, with how many waits each has open."""
    open_waits = (
        select(func.count())
        .where(and_(st.c.execution_id == ex.c.id, st.c.kind == "wait", st.c.status == "open"))
        .scalar_subquery()
    )
    query = select(
        ex.c.id,
        ex.c.workflow,
        ex.c.state,
        ex.c.created_at,
        ex.c.updated_at,
        open_waits.label("open_waits"),
        ex.c.subject,
    )
    if state is not None:
        query = query.where(ex.c.state == state)
    if workflow is not None:
        query = query.where(ex.c.workflow == workflow)
    if waiting is not None:
        query = query.where(open_waits > 0 if waiting else open_waits == 0)
    if after is not None:
        key = decode_cursor(after)
        query = query.where(tuple_(ex.c.created_at, ex.c.id) < tuple_(*key))
    rows = conn.execute(
        query.order_by(ex.c.created_at.desc(), ex.c.id.desc()).limit(limit + 1)
    ).all()
    items = [
        ExecutionSummary(
            r.id, r.workflow, r.state, r.created_at, r.updated_at, r.open_waits, r.subject
        )
        for r in rows[:limit]
    ]
    last = rows[limit - 1] if len(rows) > limit else None
    return Page(items, encode_cursor([last.created_at, last.id]) if last else None)


def signals_of(conn: Connection, eid: str) -> list[SignalRecord]:
    """Every signal of an execution in acceptance order."""
    rows = conn.execute(select(sg).where(sg.c.execution_id == eid).order_by(sg.c.seq))
    return [
        SignalRecord(
            id=r.id,
            execution_id=r.execution_id,
            seq=r.seq,
            name=r.name,
            payload=codec.loads(r.payload),
            sender=codec.loads(r.sender),
            state=r.state,
            consumed_by_step=r.consumed_by_step,
            idempotency_key=r.idempotency_key,
            received_at=r.received_at,
            consumed_at=r.consumed_at,
        )
        for r in rows
    ]


def steps_of(conn: Connection, eid: str) -> list[StepRecord]:
    """Every recorded step of an execution in step order."""
    rows = conn.execute(select(st).where(st.c.execution_id == eid).order_by(st.c.step_no))
    return [
        StepRecord(
            step_no=r.step_no,
            kind=r.kind,
            name=r.name,
            status=r.status,
            result=codec.loads(r.result),
            error=codec.loads(r.error),
            attempts=r.attempts,
            created_at=r.created_at,
            completed_at=r.completed_at,
            deadline=r.deadline,
            title=r.title,
        )
        for r in rows
    ]


def state_of(conn: Connection, eid: str) -> ExecutionState:
    """The execution with its open waits and, once finished, its result."""
    row = execution_row(conn, eid)
    if row is None:
        raise ExecutionNotFound(eid)
    arguments = codec.loads(row.arguments)
    return ExecutionState(
        id=row.id,
        workflow=row.workflow,
        state=row.state,
        args=arguments["args"],
        kwargs=arguments["kwargs"],
        initiator=codec.loads(row.initiator),
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
        waiting_on=open_waits_of(conn, eid),
        subject=row.subject,
        result=outcomes.stored_result(row),
    )


def refusals_of(conn: Connection, eid: str) -> list[Refusal]:
    """Refused attempts to answer the execution's waits, oldest first."""
    rows = conn.execute(select(rf).where(rf.c.execution_id == eid).order_by(rf.c.at))
    return [
        Refusal(
            r.id, r.execution_id, r.wait_id, r.name, codec.loads(r.sender), r.path, r.reason, r.at
        )
        for r in rows
    ]


def execution_detail(conn: Connection, eid: str) -> ExecutionDetail:
    """State, steps, signals and refusals of one execution, consistent with each other."""
    return ExecutionDetail(
        state_of(conn, eid), steps_of(conn, eid), signals_of(conn, eid), refusals_of(conn, eid)
    )


def workers(conn: Connection, lease_seconds: float) -> list[WorkerInfo]:
    """Every registered worker process, oldest first, with how many unfinished executions
    it owns and how long ago it last renewed its leases."""
    owned = (
        select(func.count())
        .where(and_(ex.c.lease_owner == wk.c.id, ex.c.state.in_(("pending", "running"))))
        .scalar_subquery()
    )
    age = (db_now() - wk.c.heartbeat_at).label("age")
    rows = conn.execute(select(wk, age, owned.label("owned")).order_by(wk.c.started_at))
    return [
        WorkerInfo(
            r.id,
            r.host,
            r.pid,
            r.started_at,
            r.heartbeat_at,
            float(r.age),
            int(r.owned),
            float(r.age) <= lease_seconds,
        )
        for r in rows
    ]
