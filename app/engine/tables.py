"""The executor's tables, in SQLAlchemy Core; alembic migrations are generated from these.

Times are stored as float seconds since the epoch (UTC): they sort, compare and index the
same way on SQLite and PostgreSQL, and keyset pagination needs nothing more.
JSON values are stored as text we encode ourselves, so both databases see identical bytes
and payload hashes are stable.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

executions = Table(
    "executions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("workflow", String(255), nullable=False),
    Column("arguments", Text, nullable=False),
    # pending | running | completed | failed | cancelled
    Column("state", String(16), nullable=False),
    Column("initiator", Text),
    # the initiator's email, lowercased: waits of their own are hidden from them (no
    # self-approval) unless the wait allows it
    Column("initiator_email", String(320)),
    # a short human description for lists (the dashboard's inbox)
    Column("subject", Text),
    Column("result", Text),
    Column("error", Text),
    # next signal sequence number and next step-completion number of this execution
    Column("next_signal_seq", Integer, nullable=False, server_default="1"),
    Column("next_completion", Integer, nullable=False, server_default="1"),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("finished_at", Float),
    # which executor process wrote last: others poll for rows they did not write
    Column("touched_by", String(64)),
    # the worker process that runs this execution (see ``leases``): its lease lasts while
    # that worker's heartbeat is fresh; NULL until a worker claims it
    Column("lease_owner", String(64)),
    # when the current owner claimed it (shows takeovers)
    Column("leased_at", Float),
    Index(None, "state", "workflow"),
    Index(None, "updated_at"),
    # a worker's executions, and unowned ones (claims and takeovers)
    Index(None, "lease_owner", "state"),
    # the executions list, newest first (keyset on created_at, id)
    Index(None, "created_at", "id"),
)

steps = Table(
    "steps",
    metadata,
    Column(
        "execution_id",
        String(36),
        ForeignKey("executions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("step_no", Integer, primary_key=True),
    # activity | wait | timer
    Column("kind", String(16), nullable=False),
    Column("name", String(255), nullable=False),
    # open | done | failed | cancelled
    Column("status", String(16), nullable=False),
    Column("result", Text),
    Column("error", Text),
    # order in which steps of one execution completed; replay delivers in this order
    Column("completion_no", Integer),
    Column("attempts", Integer, nullable=False, server_default="0"),
    # waits: the JSON Schema of the expected payload, a title and a description
    Column("schema", Text),
    Column("title", Text),
    Column("description", Text),
    # timers and waits with a timeout: absolute deadline, fixed when first scheduled
    Column("deadline", Float),
    # waits: who may answer (JSON list of "group:x" / "user:email"; NULL = anyone) and
    # whether the execution's initiator may answer it
    Column("approvers", Text),
    Column("allow_self", Boolean, nullable=False, server_default=false()),
    # waits: copies of the execution's workflow and initiator email, so the inbox filters
    # and counts 100,000 open waits without joining executions
    Column("workflow", String(255)),
    Column("initiator_email", String(320)),
    Column("created_at", Float, nullable=False),
    Column("completed_at", Float),
    # the inbox: open waits oldest first, filtered by name; it covers the authorization
    # columns, so counting 100,000 open waits for a user reads only this index
    Index(
        "ix_steps_inbox",
        "kind",
        "status",
        "created_at",
        "allow_self",
        "initiator_email",
        "approvers",
    ),
    Index(None, "kind", "status", "name", "created_at"),
    Index(None, "kind", "status", "workflow", "name", "created_at"),
    # the timer service: open steps with a deadline. Partial, so that it is never chosen
    # for "this execution's open steps" (which it would answer by scanning every open step)
    Index(
        "ix_steps_open_deadlines",
        "status",
        "deadline",
        sqlite_where=text("deadline IS NOT NULL"),
        postgresql_where=text("deadline IS NOT NULL"),
    ),
    # one execution's steps by kind and status (open waits of an execution, finishing)
    Index(None, "execution_id", "kind", "status"),
)

signals = Table(
    "signals",
    metadata,
    Column("id", String(36), primary_key=True),
    Column(
        "execution_id",
        String(36),
        ForeignKey("executions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # acceptance order within the execution
    Column("seq", Integer, nullable=False),
    Column("name", String(255), nullable=False),
    Column("payload", Text, nullable=False),
    Column("payload_hash", String(64), nullable=False),
    Column("idempotency_key", String(255)),
    Column("sender", Text),
    # buffered | consumed | unconsumed
    Column("state", String(16), nullable=False),
    Column("consumed_by_step", Integer),
    Column("received_at", Float, nullable=False),
    Column("consumed_at", Float),
    UniqueConstraint("execution_id", "seq"),
    UniqueConstraint("execution_id", "idempotency_key"),
    Index(None, "execution_id", "name", "state", "seq"),
)


# One row per principal allowed to answer a wait: the inbox filters on it in SQL.
wait_approvers = Table(
    "wait_approvers",
    metadata,
    Column("execution_id", String(36), primary_key=True),
    Column("step_no", Integer, primary_key=True),
    Column("principal", String(320), primary_key=True),
    ForeignKeyConstraint(
        ["execution_id", "step_no"], ["steps.execution_id", "steps.step_no"], ondelete="CASCADE"
    ),
)

# Attempts to answer a wait that the dashboard's authorization refused: kept for audit.
refusals = Table(
    "refusals",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("execution_id", String(36), nullable=False),
    Column("wait_id", Integer),
    Column("name", String(255), nullable=False),
    Column("sender", Text),
    # which path the attempt came through: web_form, api, ...
    Column("path", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("at", Float, nullable=False),
    Index(None, "execution_id", "at"),
)


# One row per running worker process: its heartbeat renews the leases of every execution
# it owns at once. A worker whose heartbeat is older than the lease time is dead, and the
# others take its executions over.
workers = Table(
    "workers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    # the kernel's boot id and the pid namespace: with the pid, whether a worker on the
    # same machine still exists (a restarted process takes its predecessor's work at once)
    Column("machine", String(128), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
)
