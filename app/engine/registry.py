"""``@Stent.durable``: the registry of durable functions and their retry policies."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import codec, context
from .schemas import to_json_schema

AsyncFn = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class RetryPolicy:
    """How often a failing activity is tried again, and how long to back off between."""

    max_attempts: int = 1
    initial_backoff: float = 0.5
    backoff_multiplier: float = 2.0
    max_backoff: float = 60.0
    retry_on: tuple[type[BaseException], ...] = (Exception,)

    def backoff(self, attempt: int) -> float:
        """Seconds to sleep after failed attempt number ``attempt`` (1-based)."""
        delay = self.initial_backoff * self.backoff_multiplier ** (attempt - 1)
        return float(min(delay, self.max_backoff))

    def should_retry(self, attempt: int, exc: BaseException) -> bool:
        """True when another attempt is due after ``exc`` ended attempt ``attempt``."""
        return attempt < self.max_attempts and isinstance(exc, self.retry_on)


@dataclass(frozen=True)
class Signal:
    """A signal a workflow declares: its payload schema and who may answer it.

    ``approvers`` lists ``"group:<name>"`` and ``"user:<email>"`` principals (None: any
    logged-in user); ``allow_self`` lets the execution's initiator answer it.
    """

    schema: object = None
    approvers: tuple[str, ...] | list[str] | None = None
    allow_self: bool = False


def principals(approvers: Sequence[str] | None) -> tuple[str, ...] | None:
    """Validated, normalized approver principals; ``ValueError`` on a malformed one."""
    if approvers is None:
        return None
    if isinstance(approvers, str):
        raise ValueError("approvers must be a list of principals, not one string")
    normalized = []
    for principal in approvers:
        kind, _, value = str(principal).partition(":")
        if kind not in ("group", "user") or not value.strip():
            raise ValueError(f"approver {principal!r} must be 'group:<name>' or 'user:<email>'")
        value = value.strip().lower() if kind == "user" else value.strip()
        normalized.append(f"{kind}:{value}")
    return tuple(dict.fromkeys(normalized))


@dataclass(eq=False)
class DurableFunction:
    """An ``async def`` marked durable: a workflow when dispatched, an activity when awaited."""

    fn: AsyncFn
    name: str
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    signals: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    subject: Callable[..., str] | None = None
    # declared approvers (and allow_self) per signal name
    rules: Mapping[str, tuple[tuple[str, ...] | None, bool]] = field(default_factory=dict)
    # each declared schema as the JSON text waits store it as (see ``schema_text``)
    _schema_texts: dict[str, str] = field(default_factory=dict, repr=False)

    def schema_text(self, name: str) -> str:
        """The declared schema of signal ``name`` as stored JSON text (computed once)."""
        text = self._schema_texts.get(name)
        if text is None:
            text = self._schema_texts[name] = codec.dumps(self.signals[name])
        return text

    def describe(self, args: list[Any], kwargs: dict[str, Any]) -> str:
        """A short subject for lists (text any column holds): the declared
        ``subject(*args, **kwargs)``, or the first argument's most telling value."""
        return codec.printable(self._subject(args, kwargs))

    def _subject(self, args: list[Any], kwargs: dict[str, Any]) -> str:
        if self.subject is not None:
            return str(self.subject(*args, **kwargs))[:200]
        first = args[0] if args else next(iter(kwargs.values()), None)
        if isinstance(first, dict):
            for key in ("title", "subject", "name", "item", "description", "id"):
                if isinstance(first.get(key), str | int | float):
                    return str(first[key])[:200]
        return "" if first is None else str(first)[:200]

    def __post_init__(self) -> None:
        functools.update_wrapper(self, self.fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        run = context.current_run()
        if run is None:
            # Outside any execution (or inside an activity) it is a plain coroutine call.
            return self.fn(*args, **kwargs)
        return run.activity(self, list(args), dict(kwargs))

    def __repr__(self) -> str:
        return f"<durable {self.name}>"


_registry: dict[str, DurableFunction] = {}


def register(
    fn: AsyncFn,
    retry: RetryPolicy | None = None,
    signals: Mapping[str, object] | None = None,
    subject: Callable[..., str] | None = None,
) -> DurableFunction:
    """Wrap and register ``fn`` under ``module.qualname``."""
    if not asyncio.iscoroutinefunction(fn):
        raise TypeError(f"@Stent.durable needs an async def, got {fn!r}")
    declared = {
        name: spec if isinstance(spec, Signal) else Signal(spec)
        for name, spec in (signals or {}).items()
    }
    schemas = {name: s for name, spec in declared.items() if (s := to_json_schema(spec.schema))}
    rules = {name: (principals(spec.approvers), spec.allow_self) for name, spec in declared.items()}
    durable = DurableFunction(
        fn, f"{fn.__module__}.{fn.__qualname__}", retry or RetryPolicy(), schemas, subject, rules
    )
    _registry[durable.name] = durable
    return durable


def lookup(name: str) -> DurableFunction | None:
    """The durable function registered under ``name``, if its module is loaded."""
    return _registry.get(name)


def registered() -> dict[str, DurableFunction]:
    """Every durable function registered so far, by name."""
    return dict(_registry)
