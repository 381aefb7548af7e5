"""The JSON a fresh JSON editor starts from: the default, or the required keys' shapes."""

from __future__ import annotations

from typing import Any, Final

_EMPTY: Final[dict[str, Any]] = {
    "string": "",
    "integer": 0,
    "number": 0,
    "boolean": False,
    "array": [],
    "object": {},
}
_DEPTH: Final = 8


def skeleton(schema: Any, skip: frozenset[str] = frozenset(), depth: int = 0) -> Any:
    """A value with the schema's required keys, each a blank of its type (null if unknown).

    Only a starting point for a person to edit: it need not be valid.
    """
    if not isinstance(schema, dict) or depth > _DEPTH:
        return None
    for keyword in ("default", "const"):
        if keyword in schema:
            return schema[keyword]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    properties = schema.get("properties")
    if kind == "object" or (kind is None and isinstance(properties, dict)):
        properties = properties if isinstance(properties, dict) else {}
        required = schema.get("required")
        names = (
            [n for n in required if isinstance(n, str) and n not in skip]
            if isinstance(required, list)
            else []
        )
        return {name: skeleton(properties.get(name), depth=depth + 1) for name in names}
    return _EMPTY.get(kind) if isinstance(kind, str) else None
