"""Stent: a durable workflow executor with external signals.

Workflows are ``async def`` functions marked ``@Stent.durable``; they wait for signals
(``Stent.wait_for_signal``) and timers (``Stent.sleep``) that survive restarts.
"""

from __future__ import annotations

from .errors import (
    ActivityError,
    ExecutionCancelled,
    ExecutionFinished,
    ExecutionNotFound,
    IdempotencyKeyConflict,
    NondeterminismError,
    NotInWorkflow,
    NotSerializable,
    SignalTimeout,
    SignalValidationError,
    StentError,
    WaitClosed,
    WorkflowNotRegistered,
)
from .executor import Stent
from .records import (
    ExecutionDetail,
    ExecutionState,
    ExecutionSummary,
    Page,
    Refusal,
    SignalReceipt,
    SignalRecord,
    StepRecord,
    WaitInfo,
    WorkerInfo,
)
from .registry import DurableFunction, RetryPolicy, Signal
from .result import Result

__all__ = [
    "ActivityError",
    "DurableFunction",
    "ExecutionCancelled",
    "ExecutionDetail",
    "ExecutionFinished",
    "ExecutionNotFound",
    "ExecutionState",
    "ExecutionSummary",
    "IdempotencyKeyConflict",
    "NondeterminismError",
    "NotInWorkflow",
    "NotSerializable",
    "Page",
    "Refusal",
    "Result",
    "RetryPolicy",
    "Signal",
    "SignalReceipt",
    "SignalRecord",
    "SignalTimeout",
    "SignalValidationError",
    "Stent",
    "StentError",
    "StepRecord",
    "WaitClosed",
    "WaitInfo",
    "WorkerInfo",
    "WorkflowNotRegistered",
]
