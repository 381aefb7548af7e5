"""Bringing one subschema into the shape the fields understand, or refusing it.

The fields read a single flat dict with one ``type``. Here local ``$ref``s are inlined,
``allOf`` merged, ``anyOf: [X, {"type": "null"}]`` and ``type: [X, "null"]`` folded into a
nullable flag. What cannot be rendered faithfully raises ``Unsupported``, and the whole form
falls back to the JSON editor. Validation always uses the original schema, so a shape here
only decides how the form looks, never what it accepts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, NamedTuple
from urllib.parse import unquote

from .paths import same_json

ANNOTATIONS: Final = frozenset(
    {
        "title",
        "description",
        "default",
        "examples",
        "readOnly",
        "writeOnly",
        "deprecated",
        "$comment",
        "$schema",
        "$id",
        "$anchor",
        "$dynamicAnchor",
        "$defs",
        "definitions",
        "$vocabulary",
        "format",
        "contentEncoding",
        "contentMediaType",
        "contentSchema",
    }
)
# Keywords whose meaning a form cannot show: a schema using one is edited as JSON.
NEVER: Final = frozenset(
    {
        "$dynamicRef",
        "$recursiveRef",
        "not",
        "patternProperties",
        "dependentSchemas",
        "prefixItems",
        "contains",
    }
)
_NULL_TYPE: Final = "null"


class Unsupported(Exception):
    """A construct no field renders faithfully; carries what it was, for the fallback."""


class Shape(NamedTuple):
    """A subschema as one flat dict, whether null is allowed besides its ``type``, and the
    ``$ref``s inlined on the way down to it (meeting one again means recursion)."""

    schema: dict[str, Any]
    nullable: bool
    refs: tuple[str, ...]


@dataclass(frozen=True)
class Shaper:
    """Shapes the subschemas of one root schema (the target of its local ``$ref``s)."""

    root: Mapping[str, Any]
    refs_allowed: bool

    def shape(self, schema: Any, refs: tuple[str, ...] = ()) -> Shape:
        """The shape of ``schema``, found ``refs`` deep in references."""
        if not isinstance(schema, dict):
            raise Unsupported("a boolean schema")
        if "$ref" in schema:
            return self._inline(schema, refs)
        flat, nullable = self._flatten(dict(schema), refs)
        return Shape(flat, nullable, refs)

    def _flatten(self, flat: dict[str, Any], refs: tuple[str, ...]) -> tuple[dict[str, Any], bool]:
        nullable = False
        if "allOf" in flat:
            flat = self._merge_all(flat, refs)
        if "anyOf" in flat and not _consts_only(flat["anyOf"]):
            flat, nullable = self._fold_any_of(flat, refs)
        flat, null_type = _fold_type(flat)
        used = NEVER.intersection(flat)
        if used:
            raise Unsupported(f"the keyword {sorted(used)[0]}")
        extra = flat.get("additionalProperties", True)
        if extra not in (True, False, {}):
            raise Unsupported("additionalProperties with a schema")
        return flat, nullable or null_type

    def _inline(self, schema: dict[str, Any], refs: tuple[str, ...]) -> Shape:
        ref = schema["$ref"]
        if not self.refs_allowed or not isinstance(ref, str) or ref in refs:
            raise Unsupported("a recursive or non-local $ref")
        inner = self.shape(self._resolve(ref), (*refs, ref))
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        outer = self.shape(siblings, refs) if siblings else Shape({}, False, refs)
        # Siblings of $ref apply too: null passes only if every typed side allows it.
        both_typed = "type" in outer.schema and "type" in inner.schema
        nullable = (
            (inner.nullable and outer.nullable)
            if both_typed
            else (inner.nullable or outer.nullable)
        )
        return Shape(merge(outer.schema, inner.schema), nullable, inner.refs)

    def _resolve(self, ref: str) -> Any:
        """The target of a local JSON Pointer (``#/$defs/Item``); anything else is refused."""
        if ref == "#":
            raise Unsupported("a recursive $ref")
        if not ref.startswith("#/"):
            raise Unsupported("a non-local $ref")
        node: Any = self.root
        for raw in ref[2:].split("/"):
            segment = unquote(raw).replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and segment in node:
                node = node[segment]
            elif (
                isinstance(node, list)
                and segment.isascii()
                and segment.isdigit()
                and int(segment) < len(node)
            ):
                node = node[int(segment)]
            else:
                raise Unsupported("a $ref to nothing")
        return node

    def _merge_all(self, flat: dict[str, Any], refs: tuple[str, ...]) -> dict[str, Any]:
        parts = flat.pop("allOf")
        if not isinstance(parts, list):
            raise Unsupported("a malformed allOf")
        base = self.shape(flat, refs)
        merged = base.schema
        for part in parts:
            shaped = self.shape(part, refs)
            if shaped.nullable or base.nullable:
                raise Unsupported("an allOf with null")
            merged = merge(merged, shaped.schema)
        return merged

    def _fold_any_of(
        self, flat: dict[str, Any], refs: tuple[str, ...]
    ) -> tuple[dict[str, Any], bool]:
        branches = flat.pop("anyOf")
        if not isinstance(branches, list) or len(branches) != 2:
            raise Unsupported("an anyOf other than 'this or null'")
        nulls = [
            b
            for b in branches
            if isinstance(b, dict)
            and b.get("type") == _NULL_TYPE
            and set(b) <= ANNOTATIONS | {"type"}
        ]
        if len(nulls) != 1:
            raise Unsupported("an anyOf other than 'this or null'")
        other = branches[1 - branches.index(nulls[0])]
        inner = self.shape(other, refs).schema
        if inner.get("type") not in ("string", "integer", "number", "boolean") and not (
            "enum" in inner or "const" in inner
        ):
            raise Unsupported("a nullable object or array")
        return merge(flat, inner), True


def merge(outer: dict[str, Any], inner: dict[str, Any]) -> dict[str, Any]:
    """Both schemas as one, when no keyword disagrees (outer annotations win)."""
    merged = dict(outer)
    for key, value in inner.items():
        if key not in merged or key in ANNOTATIONS:
            merged.setdefault(key, value)
        elif key == "properties" and isinstance(value, dict) and isinstance(merged[key], dict):
            both = set(value) & set(merged[key])
            if any(not same_json(value[name], merged[key][name]) for name in both):
                raise Unsupported("an allOf that constrains one property twice")
            merged[key] = {**merged[key], **value}
        elif key == "required" and isinstance(value, list) and isinstance(merged[key], list):
            merged[key] = [*merged[key], *(name for name in value if name not in merged[key])]
        elif not same_json(merged[key], value):
            raise Unsupported(f"an allOf with two values of {key}")
    return merged


def _consts_only(branches: Any) -> bool:
    """Whether a oneOf/anyOf lists plain constants (a titled enum)."""
    return (
        isinstance(branches, list)
        and bool(branches)
        and all(
            isinstance(b, dict) and "const" in b and set(b) <= ANNOTATIONS | {"const"}
            for b in branches
        )
    )


def _fold_type(flat: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """``type: [X, "null"]`` as ``type: X`` plus a nullable flag."""
    kind = flat.get("type")
    if not isinstance(kind, list):
        return flat, False
    names = [name for name in kind if name != _NULL_TYPE]
    nullable = len(names) < len(kind)
    if len(names) > 1:
        raise Unsupported("a value of several types")
    folded = {k: v for k, v in flat.items() if k != "type"}
    folded["type"] = names[0] if names else _NULL_TYPE
    return folded, nullable and bool(names)


def consts_of(flat: Mapping[str, Any]) -> tuple[list[Any], list[str | None]] | None:
    """The values (and titles) of an enum-like schema, or None when it is not one."""
    if "const" in flat:
        if "enum" in flat and not any(same_json(flat["const"], v) for v in flat["enum"]):
            raise Unsupported("a const outside its enum")
        return [flat["const"]], [None]
    if "enum" in flat:
        if not isinstance(flat["enum"], list) or not flat["enum"]:
            raise Unsupported("an empty enum")
        return list(flat["enum"]), [None] * len(flat["enum"])
    for keyword in ("oneOf", "anyOf"):
        if _consts_only(flat.get(keyword)):
            branches = flat[keyword]
            titles = [b["title"] if isinstance(b.get("title"), str) else None for b in branches]
            return [b["const"] for b in branches], titles
    return None
