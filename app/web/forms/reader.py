"""Reading submitted form data: any multi-dict shape in, plain lists of text out."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from .paths import ROWS_MARKER

FormValues = dict[str, list[str]]
MAX_ROWS: Final = 500  # more rows than a person fills in: refuse rather than build them
_INDEX = re.compile(r"0|[1-9][0-9]{0,8}")


def normalize(data: object) -> FormValues:
    """Copy form data (a Starlette ``FormData``, a multi-dict or a mapping) into a dict.

    Only text is kept: an upload or any other object in the data is dropped, because no
    field of ours takes one and the caller must never see an exception.
    """
    pairs: list[tuple[Any, Any]] = []
    if hasattr(data, "multi_items"):
        pairs = list(data.multi_items())
    elif hasattr(data, "getlist") and hasattr(data, "keys"):
        pairs = [(key, value) for key in list(data.keys()) for value in data.getlist(key)]
    elif isinstance(data, Mapping):
        for key, value in data.items():
            many = value if isinstance(value, list | tuple) else [value]
            pairs.extend((key, item) for item in many)
    values: FormValues = {}
    for key, value in pairs:
        if isinstance(key, str) and isinstance(value, str):
            values.setdefault(key, []).append(value)
    return values


def is_index(text: str) -> bool:
    """Whether ``text`` is a row number as the forms write them (ASCII digits, no sign)."""
    return _INDEX.fullmatch(text) is not None


def first(values: FormValues, name: str) -> str | None:
    """The first value posted under ``name``, or None."""
    posted = values.get(name)
    return posted[0] if posted else None


def row_count(values: FormValues, name: str) -> int:
    """How many rows the array input ``name`` has: its counter, or its highest row + 1."""
    count = 0
    counter = first(values, f"{name}.{ROWS_MARKER}")
    if counter is not None and _INDEX.fullmatch(counter.strip()):
        count = int(counter.strip())
    prefix = name + "."
    for key in values:
        if key.startswith(prefix):
            segment = key[len(prefix) :].split(".", 1)[0]
            if _INDEX.fullmatch(segment):
                count = max(count, int(segment) + 1)
    return count


@dataclass
class Reader:
    """The posted values, and the errors found while turning them into JSON."""

    values: FormValues
    errors: dict[str, list[str]] = field(default_factory=dict)

    def get(self, name: str) -> list[str]:
        return self.values.get(name, [])

    def first(self, name: str) -> str | None:
        return first(self.values, name)

    def fail(self, key: str, message: str) -> None:
        messages = self.errors.setdefault(key, [])
        if message not in messages:
            messages.append(message)
