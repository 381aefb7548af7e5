"""Plain-text rendering for the ``stent-desk`` command: aligned tables and execution details."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from app.engine import (
    ExecutionState,
    ExecutionSummary,
    Result,
    SignalReceipt,
    SignalRecord,
    StepRecord,
    WaitInfo,
    WorkerInfo,
)

if TYPE_CHECKING:  # importing the web layer for every command would slow them all
    from app.web.sessions import SessionRecord

NONE = "-"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart, headers in the first line."""
    lines = [list(headers), *(list(row) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def iso(timestamp: float | None) -> str:
    """Seconds since the epoch as ISO 8601 in UTC (``-`` for none)."""
    if timestamp is None:
        return NONE
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_json(value: Any) -> str:
    """A JSON value on one line, non-ASCII kept readable."""
    return json.dumps(value, ensure_ascii=False)


def result_text(result: Result[Any, Any] | None) -> str:
    """``ok: <value>`` or ``error: <error>``; ``-`` while unfinished."""
    if result is None:
        return NONE
    if result.ok:
        return f"ok: {to_json(result.value)}"
    error = result.error
    if isinstance(error, BaseException):
        return f"error: {type(error).__name__}: {error}"
    return f"error: {to_json(error)}"


def schema_summary(schema: dict[str, Any] | None) -> str:
    """A JSON Schema in one line: ``field*: type`` per property, ``*`` marking required."""
    if not schema:
        return "any JSON"
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return _type_of(schema)
    required = set(schema.get("required", ()))
    fields = [
        f"{name}{'*' if name in required else ''}: {_type_of(sub)}"
        for name, sub in properties.items()
    ]
    return ", ".join(fields) or "object"


def _type_of(schema: Any) -> str:
    if not isinstance(schema, dict):
        return "any"
    if "enum" in schema:
        return "|".join(to_json(v) for v in schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return "|".join(str(k) for k in kind)
    if kind == "array":
        return f"array of {_type_of(schema.get('items'))}"
    return str(kind) if kind else "any"


def executions_table(items: Sequence[ExecutionSummary]) -> str:
    """The rows of ``list_executions``."""
    rows = [(e.id, e.workflow, e.state, str(e.open_waits), iso(e.created_at)) for e in items]
    return table(("ID", "WORKFLOW", "STATE", "OPEN WAITS", "CREATED"), rows)


def workers_table(items: Sequence[WorkerInfo]) -> str:
    """The rows of ``workers``: every process sharing the database."""
    rows = [
        (
            w.id,
            w.host,
            str(w.pid),
            iso(w.started_at),
            f"{w.heartbeat_age:.1f} s ago",
            str(w.executions),
            "alive" if w.alive else "LEASE EXPIRED",
        )
        for w in items
    ]
    return table(("WORKER", "HOST", "PID", "STARTED", "HEARTBEAT", "EXECUTIONS", "STATE"), rows)


def sessions_table(items: Sequence[SessionRecord]) -> str:
    """The rows of ``sessions``: every live session, by person."""
    rows = [
        (s.email, s.name, s.subject, s.auth_method, iso(s.login_at), iso(s.last_seen_at))
        for s in items
    ]
    return table(("EMAIL", "NAME", "SUBJECT", "METHOD", "LOGGED IN", "LAST SEEN"), rows)


def execution_text(state: ExecutionState) -> str:
    """The execution's own fields, one ``label  value`` line each."""
    fields = (
        ("Execution", state.id),
        ("Workflow", state.workflow),
        ("State", state.state),
        ("Created", iso(state.created_at)),
        ("Updated", iso(state.updated_at)),
        ("Finished", iso(state.finished_at)),
        ("Args", to_json(state.args)),
        ("Kwargs", to_json(state.kwargs)),
        ("Initiator", NONE if state.initiator is None else to_json(state.initiator)),
        ("Result", result_text(state.result)),
    )
    return "\n".join(f"{label:<10} {value}" for label, value in fields)


def steps_table(steps: Sequence[StepRecord]) -> str:
    """The execution's recorded steps, in order."""
    rows = [
        (
            str(s.step_no),
            s.kind,
            s.name,
            s.status,
            str(s.attempts),
            s.title or "",
            iso(s.completed_at),
        )
        for s in steps
    ]
    return table(("STEP", "KIND", "NAME", "STATUS", "ATTEMPTS", "TITLE", "COMPLETED"), rows)


def waits_table(waits: Sequence[WaitInfo]) -> str:
    """The execution's open waits with their title and the shape of the payload they take."""
    rows = [
        (
            str(w.step_no),
            w.name,
            w.title or "",
            iso(w.since),
            iso(w.deadline),
            schema_summary(w.schema),
        )
        for w in waits
    ]
    return table(("STEP", "SIGNAL", "TITLE", "SINCE", "DEADLINE", "SCHEMA"), rows)


def signals_table(signals: Sequence[SignalRecord]) -> str:
    """The execution's signals in arrival order, with who sent them and what consumed them."""
    rows = [
        (
            str(s.seq),
            s.name,
            _sender(s.sender),
            s.state,
            NONE if s.consumed_by_step is None else str(s.consumed_by_step),
            iso(s.received_at),
            to_json(s.payload),
        )
        for s in signals
    ]
    return table(
        ("SEQ", "NAME", "SENDER", "STATE", "CONSUMED BY STEP", "RECEIVED", "PAYLOAD"), rows
    )


def section(title: str, body: str, empty: bool) -> str:
    """A titled block; ``(none)`` instead of a table with no rows."""
    return f"\n{title}\n" + ("(none)" if empty else body)


def receipt_text(receipt: SignalReceipt) -> str:
    """What ``signal`` prints once the engine stored the signal."""
    if receipt.consumed_by_step is not None:
        outcome = f"consumed by step {receipt.consumed_by_step}"
    else:
        outcome = "queued until the execution waits for it"
    duplicate = " (duplicate: already received with this idempotency key)"
    return (
        f"signal {receipt.signal_id} {receipt.name!r} #{receipt.seq} to execution "
        f"{receipt.execution_id}: {outcome}{duplicate if receipt.duplicate else ''}"
    )


def _sender(sender: dict[str, Any] | None) -> str:
    if not sender:
        return NONE
    email = sender.get("email")
    return str(email) if email else to_json(sender)
