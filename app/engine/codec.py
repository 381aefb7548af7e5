"""JSON encoding of everything the executor stores, and of exceptions.

Values are stored as compact, key-sorted JSON so that the same payload always has the
same bytes (and hash), whichever database holds it.
"""

from __future__ import annotations

import builtins
import hashlib
import importlib
import json
from typing import Any

from .errors import ActivityError, NotSerializable


def dumps(value: Any, what: str = "value") -> str:
    """Encode a JSON value, refusing NaN and anything that is not plain JSON."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise NotSerializable(what, exc) from exc


def loads(text: str | None) -> Any:
    """Decode what ``dumps`` stored; ``None`` stays ``None``."""
    return None if text is None else json.loads(text)


def digest(text: str) -> str:
    """The payload hash that tells an idempotent retry from a conflicting one."""
    return hashlib.sha256(text.encode()).hexdigest()


def encode_exception(exc: BaseException) -> dict[str, Any]:
    """What is stored of an exception: enough to raise an equal one on replay."""
    cls = type(exc)
    try:
        args = json.loads(dumps(list(exc.args)))
    except NotSerializable:
        args = [str(exc)]
    return {"module": cls.__module__, "type": cls.__qualname__, "message": str(exc), "args": args}


def decode_exception(data: dict[str, Any]) -> BaseException:
    """Rebuild a stored exception; falls back to ``ActivityError`` when the type is gone."""
    try:
        module = (
            builtins if data["module"] == "builtins" else importlib.import_module(data["module"])
        )
        cls: Any = module
        for part in data["type"].split("."):
            cls = getattr(cls, part)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            exc = cls(*data.get("args", [data["message"]]))
            return exc
    except Exception:
        pass
    return ActivityError(data["type"], data["message"])
