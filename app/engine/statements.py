"""The write path's SQL, as SQLAlchemy Core statements prepared once (see ``prepared``).

Every parameter is a named ``b_*`` bind; SET and VALUES lists are spelled out so each
statement compiles to one fixed SQL text per dialect.
"""

from __future__ import annotations

from sqlalchemy import and_, bindparam, insert, select, update

from .prepared import Prepared
from .tables import executions as ex
from .tables import refusals as rf
from .tables import signals as sg
from .tables import steps as st
from .tables import wait_approvers as wa


def b(name: str) -> object:
    """A named bound parameter (``b_<name>``)."""
    return bindparam(f"b_{name}")


_EID, _STEP, _NAME, _NOW, _WORKER = b("eid"), b("step"), b("name"), b("now"), b("worker")
_EXECUTION = ex.c.id == _EID
_STEP_KEY = and_(st.c.execution_id == _EID, st.c.step_no == _STEP)

# The execution row, locked (FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE already
# holds the database's write lock): every write transaction starts here.
LOCK_EXECUTION = Prepared(
    select(
        ex.c.state,
        ex.c.next_signal_seq,
        ex.c.next_completion,
        ex.c.workflow,
        ex.c.initiator_email,
        ex.c.lease_owner,
    )
    .where(_EXECUTION)
    .with_for_update()
)
INSERT_EXECUTION = Prepared(
    insert(ex).values(
        id=_EID,
        workflow=b("workflow"),
        arguments=b("arguments"),
        state="pending",
        initiator=b("initiator"),
        initiator_email=b("initiator_email"),
        subject=b("subject"),
        created_at=_NOW,
        updated_at=_NOW,
        touched_by=_WORKER,
        lease_owner=b("owner"),
        leased_at=b("leased_at"),
    )
)
# a signal's sender takes an unowned execution (see ``leases``)
TAKE_LEASE = Prepared(update(ex).where(_EXECUTION).values(lease_owner=_WORKER, leased_at=_NOW))

TOUCH = Prepared(update(ex).where(_EXECUTION).values(updated_at=_NOW, touched_by=_WORKER))
TOUCH_RUNNING = Prepared(
    update(ex).where(_EXECUTION).values(state="running", updated_at=_NOW, touched_by=_WORKER)
)
TAKE_COMPLETION = Prepared(
    update(ex)
    .where(_EXECUTION)
    .values(
        state="running", next_completion=b("next_completion"), updated_at=_NOW, touched_by=_WORKER
    )
)
TAKE_SIGNAL_SEQ = Prepared(
    update(ex)
    .where(_EXECUTION)
    .values(next_signal_seq=b("next_signal_seq"), updated_at=_NOW, touched_by=_WORKER)
)
TAKE_SIGNAL_SEQ_AND_COMPLETION = Prepared(
    update(ex)
    .where(_EXECUTION)
    .values(
        state="running",
        next_signal_seq=b("next_signal_seq"),
        next_completion=b("next_completion"),
        updated_at=_NOW,
        touched_by=_WORKER,
    )
)
FINISH_EXECUTION = Prepared(
    update(ex)
    .where(_EXECUTION)
    .values(
        state=b("state"),
        result=b("result"),
        error=b("error"),
        finished_at=_NOW,
        updated_at=_NOW,
        touched_by=_WORKER,
    )
)

INSERT_STEP = Prepared(
    insert(st).values(
        execution_id=_EID,
        step_no=_STEP,
        kind=b("kind"),
        name=_NAME,
        status=b("status"),
        result=b("result"),
        error=b("error"),
        completion_no=b("completion_no"),
        attempts=b("attempts"),
        schema=b("schema"),
        title=b("title"),
        description=b("description"),
        deadline=b("deadline"),
        approvers=b("approvers"),
        allow_self=b("allow_self"),
        workflow=b("workflow"),
        initiator_email=b("initiator_email"),
        created_at=_NOW,
        completed_at=b("completed_at"),
    )
)
INSERT_WAIT_APPROVER = Prepared(
    insert(wa).values(execution_id=_EID, step_no=_STEP, principal=b("principal"))
)
COMPLETE_STEP = Prepared(
    update(st)
    .where(_STEP_KEY)
    .values(
        status=b("status"),
        result=b("result"),
        error=b("error"),
        completion_no=b("completion_no"),
        completed_at=_NOW,
    )
)
CANCEL_STEP = Prepared(
    update(st).where(_STEP_KEY).values(status="cancelled", result=None, completed_at=_NOW)
)
STEP_STATE = Prepared(
    select(st.c.kind, st.c.name, st.c.status, st.c.deadline, st.c.created_at).where(_STEP_KEY)
)
OPEN_WAITS_ON = Prepared(
    select(st.c.step_no, st.c.schema)
    .where(
        and_(
            st.c.execution_id == _EID,
            st.c.kind == "wait",
            st.c.name == _NAME,
            st.c.status == "open",
        )
    )
    .order_by(st.c.step_no)
)
CLOSE_OPEN_STEPS = Prepared(
    update(st)
    .where(and_(st.c.execution_id == _EID, st.c.status == "open"))
    .values(status="cancelled", completed_at=_NOW)
)

INSERT_REFUSAL = Prepared(
    insert(rf).values(
        id=b("id"),
        execution_id=_EID,
        wait_id=_STEP,
        name=_NAME,
        sender=b("sender"),
        path=b("path"),
        reason=b("reason"),
        at=_NOW,
    )
)
INSERT_SIGNAL = Prepared(
    insert(sg).values(
        id=b("signal"),
        execution_id=_EID,
        seq=b("seq"),
        name=_NAME,
        payload=b("payload"),
        payload_hash=b("payload_hash"),
        idempotency_key=b("key"),
        sender=b("sender"),
        state=b("state"),
        consumed_by_step=_STEP,
        received_at=_NOW,
        consumed_at=b("consumed_at"),
    )
)
OLDEST_BUFFERED = Prepared(
    select(sg.c.id, sg.c.payload)
    .where(and_(sg.c.execution_id == _EID, sg.c.name == _NAME, sg.c.state == "buffered"))
    .order_by(sg.c.seq)
    .limit(1)
)
CONSUME_SIGNAL = Prepared(
    update(sg)
    .where(sg.c.id == b("signal"))
    .values(state="consumed", consumed_by_step=_STEP, consumed_at=_NOW)
)
WAIT_ANSWER = Prepared(
    select(
        st.c.step_no,
        st.c.kind,
        st.c.name,
        st.c.status,
        st.c.schema,
        st.c.completed_at,
        sg.c.sender,
        sg.c.received_at,
    )
    .select_from(
        st.outerjoin(
            sg, and_(sg.c.execution_id == st.c.execution_id, sg.c.consumed_by_step == st.c.step_no)
        )
    )
    .where(_STEP_KEY)
)
SIGNAL_BY_KEY = Prepared(
    select(sg.c.id, sg.c.seq, sg.c.name, sg.c.payload_hash, sg.c.consumed_by_step).where(
        and_(sg.c.execution_id == _EID, sg.c.idempotency_key == b("key"))
    )
)
RETURN_SIGNAL = Prepared(
    update(sg)
    .where(
        and_(sg.c.execution_id == _EID, sg.c.consumed_by_step == _STEP, sg.c.state == "consumed")
    )
    .values(state="buffered", consumed_by_step=None, consumed_at=None)
)
KEEP_BUFFERED_AS_UNCONSUMED = Prepared(
    update(sg)
    .where(and_(sg.c.execution_id == _EID, sg.c.state == "buffered"))
    .values(state="unconsumed")
)
