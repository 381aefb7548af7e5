"""How a place in the payload is named: error keys, input names and element ids.

Three spellings of one path, each escaped so that no property name can collide with
another or with the markers the forms add (variant fieldsets, row counters):

* error key: segments joined by ``/`` with JSON Pointer escapes (``~0``, ``~1``), "" for
  the whole payload: ``items/0/price``;
* input name: ``f`` then ``.segment`` per level, ``~`` and ``.`` escaped as ``~0``, ``~1``:
  ``f.items.0.price``;
* element id: the id prefix, then ``-segment`` per level; a segment that is not a plain
  identifier becomes ``~`` and a short hash, so ids stay valid and unique.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Final

Segment = str | int
Path = tuple[Segment, ...]

ROOT_NAME: Final = "f"
ROWS_MARKER: Final = "_rows"  # input under an array's name that counts its rows
_PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9_]+|~v[0-9]+")


class _Missing:
    """The absence of a value (a property left out), as opposed to JSON ``null``."""

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final[Any] = _Missing()


def key_of(path: Path) -> str:
    """The error key of ``path``: ``("items", 0, "price")`` -> ``items/0/price``."""
    return "/".join(str(seg).replace("~", "~0").replace("/", "~1") for seg in path)


def split_key(key: str) -> list[str]:
    """The segments of an error key (integers stay text: the caller knows the shape)."""
    if key == "":
        return []
    return [seg.replace("~1", "/").replace("~0", "~") for seg in key.split("/")]


def child_name(parent: str, segment: Segment) -> str:
    """The input name one level below ``parent``."""
    return f"{parent}.{str(segment).replace('~', '~0').replace('.', '~1')}"


def variant_name(parent: str, index: int) -> str:
    """The name under which a ``oneOf`` variant's own inputs live (unique per variant)."""
    return f"{parent}.~v{index}"


def id_of(prefix: str, name: str) -> str:
    """The element id of the input called ``name``."""
    segments = name.split(".")[1:]
    return "-".join([prefix, *(_id_segment(seg) for seg in segments)])


def _id_segment(segment: str) -> str:
    if _PLAIN_SEGMENT.fullmatch(segment):
        return segment
    return "~" + hashlib.sha1(segment.encode()).hexdigest()[:10]


def canonical(value: Any) -> str | None:
    """JSON text that tells apart what JSON tells apart (1 vs 1.0 vs true), or None."""
    try:
        return json.dumps(value, sort_keys=True, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return None


def same_json(left: Any, right: Any) -> bool:
    """Whether two values are the same JSON document, types included."""
    text = canonical(left)
    return text is not None and text == canonical(right)


def humanize(name: str) -> str:
    """A label for a property without a title: ``due_date`` / ``dueDate`` -> ``Due date``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ").replace("-", " ")
    words = " ".join(spaced.split())
    return (words[:1].upper() + words[1:].lower()) if words else "Value"
