"""Frozen records the executor hands to callers: receipts, states, waits, signals."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .result import Result

FINISHED_STATES = frozenset({"completed", "failed", "cancelled"})


@dataclass(frozen=True)
class SignalReceipt:
    """What ``send_signal`` returns once the signal is durably stored."""

    signal_id: str
    execution_id: str
    name: str
    seq: int
    duplicate: bool = False
    consumed_by_step: int | None = None


@dataclass(frozen=True)
class WaitInfo:
    """An open ``wait_for_signal`` of an execution: what the dashboard lists and renders."""

    execution_id: str
    workflow: str
    step_no: int
    name: str
    schema: dict[str, Any] | None
    title: str | None
    description: str | None
    since: float
    deadline: float | None = None
    subject: str | None = None
    # who may answer: "group:x" / "user:email" principals, None = any logged-in user
    approvers: tuple[str, ...] | None = None
    allow_self: bool = False
    initiator_email: str | None = None

    @property
    def wait_id(self) -> int:
        """Identifies this wait within its execution (``send_signal(..., wait_id=...)``)."""
        return self.step_no


@dataclass(frozen=True)
class StepRecord:
    """One recorded step of an execution (activity, wait or timer)."""

    step_no: int
    kind: str
    name: str
    status: str
    result: Any
    error: dict[str, Any] | None
    attempts: int
    created_at: float
    completed_at: float | None
    deadline: float | None
    title: str | None = None


@dataclass(frozen=True)
class SignalRecord:
    """One signal of an execution, with its sender and what consumed it."""

    id: str
    execution_id: str
    seq: int
    name: str
    payload: Any
    sender: dict[str, Any] | None
    state: str
    consumed_by_step: int | None
    idempotency_key: str | None
    received_at: float
    consumed_at: float | None


@dataclass(frozen=True)
class Refusal:
    """An attempt to answer a wait that was refused, with who tried, how and why."""

    id: str
    execution_id: str
    wait_id: int | None
    name: str
    sender: dict[str, Any] | None
    path: str
    reason: str
    at: float


@dataclass(frozen=True)
class ExecutionState:
    """An execution as ``state_of`` sees it."""

    id: str
    workflow: str
    state: str
    args: list[Any]
    kwargs: dict[str, Any]
    initiator: dict[str, Any] | None
    created_at: float
    updated_at: float
    finished_at: float | None
    subject: str | None = None
    waiting_on: list[WaitInfo] = field(default_factory=list)
    result: Result[Any, Any] | None = None

    @property
    def finished(self) -> bool:
        """True once completed, failed or cancelled."""
        return self.state in FINISHED_STATES


@dataclass(frozen=True)
class ExecutionDetail:
    """Everything the execution page shows, read in one transaction."""

    state: ExecutionState
    steps: list[StepRecord]
    signals: list[SignalRecord]
    refusals: list[Refusal]


@dataclass(frozen=True)
class ExecutionSummary:
    """A row of ``list_executions``."""

    id: str
    workflow: str
    state: str
    created_at: float
    updated_at: float
    open_waits: int
    subject: str | None = None


@dataclass(frozen=True)
class WorkerInfo:
    """A worker process sharing the database (``Stent.workers``)."""

    id: str
    host: str
    pid: int
    started_at: float
    heartbeat_at: float
    # seconds since its last heartbeat, by the database's clock
    heartbeat_age: float
    # its unfinished executions
    executions: int
    # False once its heartbeat is older than the lease: its executions are being taken over
    alive: bool


@dataclass(frozen=True)
class WaitFilter:
    """Which open waits to list: by workflow, signal name, age and execution id prefix."""

    workflow: str | None = None
    name: str | None = None
    opened_before: float | None = None
    execution_id: str | None = None
    # only waits one of these principals may answer (None: every wait)
    principals: tuple[str, ...] | None = None
    # hide waits of executions this email started, unless the wait allows self-answers
    not_initiated_by: str | None = None


@dataclass(frozen=True)
class Page:
    """One keyset-paginated page; pass ``next_cursor`` as ``after`` for the next one."""

    items: list[Any]
    next_cursor: str | None
