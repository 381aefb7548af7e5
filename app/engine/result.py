"""The ``Result`` type workflows may return and ``wait_for`` always returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")
E = TypeVar("E")
U = TypeVar("U")


class _Missing:
    pass


@dataclass(frozen=True)
class Result(Generic[T, E]):
    """Success (``Result.Ok(value)``) or failure (``Result.Error(error)``)."""

    ok: bool
    value: Any = None
    error: Any = None

    @staticmethod
    def Ok(value: Any = None) -> Result[Any, Any]:
        """A successful result carrying ``value``."""
        return Result(True, value, None)

    @staticmethod
    def Error(error: Any) -> Result[Any, Any]:
        """A failed result carrying ``error`` (an exception or any value)."""
        return Result(False, None, error)

    def unwrap(self) -> Any:
        """The value; raises the error (or a ``ValueError`` about it) when failed."""
        if self.ok:
            return self.value
        if isinstance(self.error, BaseException):
            raise self.error
        raise ValueError(f"unwrap() on an error result: {self.error!r}")

    def unwrap_or(self, default: Any) -> Any:
        """The value, or ``default`` when failed."""
        return self.value if self.ok else default

    def __repr__(self) -> str:
        return f"Result.Ok({self.value!r})" if self.ok else f"Result.Error({self.error!r})"
