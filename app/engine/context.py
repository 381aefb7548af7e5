"""The execution a piece of workflow code runs in, carried by a context variable.

Tasks created inside a workflow (``asyncio.create_task``) copy the context, so they see
the same execution; activities run with the variable cleared, so their own calls to
durable functions are plain calls.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

from .errors import NotInWorkflow

if TYPE_CHECKING:
    from .replay import Run

_current: ContextVar[Run | None] = ContextVar("stent_current_run", default=None)


def current_run() -> Run | None:
    """The execution running this code, or None outside any workflow."""
    return _current.get()


def require_run(what: str) -> Run:
    """The current execution; ``NotInWorkflow`` when ``what`` is called elsewhere."""
    run = _current.get()
    if run is None:
        raise NotInWorkflow(f"{what} can only be awaited inside a durable workflow")
    return run


def set_run(run: Run | None) -> None:
    """Bind ``run`` in the current context (used when starting a workflow or activity task)."""
    _current.set(run)
