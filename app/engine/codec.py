"""JSON encoding of everything the executor stores, and of exceptions.

Values are stored as compact, key-sorted JSON so that the same payload always has the
same bytes (and hash), whichever database holds it.

Only values that every page, export and database can show are stored: strings are Unicode
text (no lone surrogates such as the JSON text ``"\\ud800"``, which no UTF-8 page can
carry) and nesting stays within :data:`MAX_DEPTH`. A value outside that is refused with
``NotSerializable`` naming each offending field, before anything is written.
"""

from __future__ import annotations

import builtins
import hashlib
import importlib
import json
import re
from typing import Any, Final

from .errors import ActivityError, NotSerializable

MAX_DEPTH: Final = 100  # arrays and objects inside one another; far more than any form
_SURROGATE = re.compile("[\ud800-\udfff]")
_UNPRINTABLE = re.compile("[\x00\ud800-\udfff]")


def dumps(value: Any, what: str = "value") -> str:
    """Encode a JSON value, refusing NaN, anything that is not plain JSON, strings that
    are not Unicode text, and nesting deeper than ``MAX_DEPTH``."""
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except RecursionError as exc:
        raise NotSerializable(what, _TOO_DEEP, {"": [_TOO_DEEP]}) from exc
    except (TypeError, ValueError) as exc:
        raise NotSerializable(what, exc) from exc
    # The text is ASCII: every container opens with a bracket and every character outside
    # the BMP or lone surrogate is a \\udXXXX escape, so most values need no closer look.
    if "\\ud" in text or text.count("[") + text.count("{") > MAX_DEPTH:
        problems = unstorable(value)
        if problems:
            summary = "; ".join(f"{path or '(value)'}: {m[0]}" for path, m in problems.items())
            raise NotSerializable(what, summary, problems)
    return text


_TOO_DEEP = f"it is nested more than {MAX_DEPTH} levels deep"


def unstorable(value: Any) -> dict[str, list[str]]:
    """Why a JSON value cannot be stored, by field path (``items/0/name``); empty if it can.

    Iterative, so that a value nested too deeply for recursion is still described.
    """
    problems: dict[str, list[str]] = {}
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item, path, problems)
        elif isinstance(item, dict | list):
            if depth >= MAX_DEPTH:  # said of the whole value: its deep path helps nobody
                if _TOO_DEEP not in problems.setdefault("", []):
                    problems[""].append(_TOO_DEEP)
                continue
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in pairs:
                if isinstance(key, str):
                    _check_text(key, path, problems, "a name in it")
                stack.append((child, f"{path}/{key}" if path else str(key), depth + 1))
    return problems


def _check_text(text: str, path: str, problems: dict[str, list[str]], what: str = "it") -> None:
    found = None if text.isascii() else _SURROGATE.search(text)
    if found is not None:
        message = (
            f"{what} is not valid Unicode text: it contains U+{ord(found.group()):04X}, "
            "half of a surrogate pair"
        )
        problems.setdefault(path, []).append(message)


def printable(text: str) -> str:
    """``text`` with any lone surrogate or NUL replaced by U+FFFD: text that every
    database column (PostgreSQL's cannot hold NUL) and every page can carry.

    For the words the executor derives from values (subjects, titles, exception
    messages): shown, never refused.
    """
    return _UNPRINTABLE.sub("\ufffd", text) if _UNPRINTABLE.search(text) else text


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
        args = [printable(str(exc))]
    message = printable(str(exc))  # an exception's message is shown, never refused
    return {"module": cls.__module__, "type": cls.__qualname__, "message": message, "args": args}


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
