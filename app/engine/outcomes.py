"""How a workflow's outcome is stored, and the ``Result`` rebuilt from storage."""

from __future__ import annotations

from typing import Any

from . import codec
from .errors import ExecutionCancelled
from .result import Result


def stored_result(row: Any) -> Result[Any, Any] | None:
    """The finished execution's ``Result`` from its row; None while unfinished."""
    if row.state == "completed":
        return decode_result(codec.loads(row.result))
    if row.state == "failed":
        return Result.Error(codec.decode_exception(codec.loads(row.error)))
    if row.state == "cancelled":
        return Result.Error(ExecutionCancelled(row.id))
    return None


def encode_result(value: Any) -> dict[str, Any]:
    """A workflow's return value as stored: its own ``Result``, or a plain value."""
    if not isinstance(value, Result):
        return {"kind": "value", "value": value}
    if value.ok:
        return {"kind": "result", "ok": True, "value": value.value}
    if isinstance(value.error, BaseException):
        return {"kind": "result", "ok": False, "exception": codec.encode_exception(value.error)}
    return {"kind": "result", "ok": False, "error": value.error}


def decode_result(data: dict[str, Any]) -> Result[Any, Any]:
    """The ``Result`` that ``encode_result`` stored."""
    if data["kind"] == "value" or data["ok"]:
        return Result.Ok(data["value"])
    if "exception" in data:
        return Result.Error(codec.decode_exception(data["exception"]))
    return Result.Error(data["error"])
