"""Errors raised by the durable executor.

Every error a signal sender can provoke subclasses ``ValueError`` so that code written
for the signal document (``except ValueError``) keeps working.
"""

from __future__ import annotations

from typing import Any


class StentError(Exception):
    """Base class of every error the engine raises."""


class ExecutionNotFound(StentError, ValueError):
    """No execution has this id."""

    def __init__(self, execution_id: str) -> None:
        super().__init__(f"execution {execution_id!r} not found")
        self.execution_id = execution_id


class ExecutionFinished(StentError, ValueError):
    """The execution is completed, failed or cancelled and accepts no signal."""

    def __init__(self, execution_id: str, state: str) -> None:
        super().__init__(f"execution {execution_id!r} is already {state}")
        self.execution_id = execution_id
        self.state = state


class SignalValidationError(StentError, ValueError):
    """The payload is not JSON, too large, or invalid against the signal's schema.

    ``errors`` maps a field path (``""`` for the whole payload, ``"items/0/price"`` for a
    nested field) to the list of messages about it.
    """

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.errors: dict[str, list[str]] = errors or {"": [message]}


class IdempotencyKeyConflict(StentError, ValueError):
    """The idempotency key was already used for this execution with another payload."""

    def __init__(self, execution_id: str, key: str) -> None:
        super().__init__(
            f"idempotency key {key!r} was already used for execution {execution_id!r} "
            "with a different payload"
        )
        self.execution_id = execution_id
        self.key = key


class WaitClosed(StentError, ValueError):
    """The wait a signal was addressed to is no longer open (answered, timed out, gone)."""

    def __init__(
        self,
        execution_id: str,
        wait_id: int,
        name: str,
        status: str,
        answered_by: dict[str, Any] | None = None,
        answered_at: float | None = None,
    ) -> None:
        who = ""
        if answered_by:
            who = f" by {answered_by.get('name') or answered_by.get('email') or 'someone'}"
        super().__init__(
            f"the {name!r} wait {wait_id} of execution {execution_id!r} is closed: {status}{who}"
        )
        self.execution_id = execution_id
        self.wait_id = wait_id
        self.name = name
        self.status = status
        self.answered_by = answered_by
        self.answered_at = answered_at


class SignalTimeout(StentError, TimeoutError):
    """``wait_for_signal(..., timeout=...)`` ran out of time before a signal came."""

    def __init__(self, name: str, timeout_seconds: float) -> None:
        super().__init__(name, timeout_seconds)  # args rebuild it after a restart
        self.name = name
        self.timeout_seconds = timeout_seconds

    def __str__(self) -> str:
        return f"no {self.name!r} signal within {self.timeout_seconds:g} s"


class NondeterminismError(StentError):
    """A replay took another path than the recorded history."""

    def __init__(self, step_no: int, recorded: str, requested: str) -> None:
        super().__init__(step_no, recorded, requested)  # args rebuild it when stored
        self.step_no = step_no
        self.recorded = recorded
        self.requested = requested

    def __str__(self) -> str:
        return (
            f"step {self.step_no}: history recorded {self.recorded}, but the replay "
            f"asked for {self.requested}; the workflow's code or inputs changed since "
            f"it ran"
        )


class NotInWorkflow(StentError, RuntimeError):
    """A workflow-only call (wait_for_signal, sleep) was made outside any execution."""


class ActivityError(StentError):
    """A failed activity whose original exception type could not be rebuilt on replay."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message


class WorkflowNotRegistered(StentError, LookupError):
    """An execution names a workflow that no loaded module declared with @Stent.durable."""

    def __init__(self, name: str) -> None:
        super().__init__(f"workflow {name!r} is not registered; is its module imported?")
        self.name = name


class NotSerializable(StentError, TypeError):
    """An argument or result is not JSON that can be stored (not JSON, a string that is not
    Unicode text, nested too deeply).

    ``errors`` maps a field path (as ``SignalValidationError.errors``) to its problems,
    when the value is JSON but some of its fields cannot be stored.
    """

    def __init__(self, what: str, detail: Any, errors: dict[str, list[str]] | None = None) -> None:
        reason = "cannot be stored" if errors else "is not JSON-serializable"
        super().__init__(f"{what} {reason}: {detail}")
        self.what = what
        self.errors: dict[str, list[str]] = errors or {"": [str(detail)]}


class ExecutionCancelled(StentError):
    """The execution was cancelled with ``executor.cancel``."""

    def __init__(self, execution_id: str) -> None:
        super().__init__(f"execution {execution_id!r} was cancelled")
        self.execution_id = execution_id


class LeaseLost(StentError):
    """Another worker process owns the execution now (this one's lease expired): the write
    is refused and this process drops the execution from memory."""

    def __init__(self, execution_id: str, owner: str | None) -> None:
        super().__init__(f"execution {execution_id!r} is owned by worker {owner!r}")
        self.execution_id = execution_id
        self.owner = owner
