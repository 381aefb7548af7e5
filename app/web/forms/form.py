"""A form built from a wait's JSON Schema: its kind, its fields, what it shows first."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from .builder import Builder, Place
from .containers import ObjectField
from .field import Field
from .options import EnumField, Option
from .paths import ROOT_NAME, canonical
from .reader import FormValues, first
from .scalars import BooleanField, StringField
from .shape import Shaper, Unsupported
from .skeleton import skeleton

FormKind = Literal["fields", "approve_reject", "json"]
SERVER_FIELDS: Final = frozenset({"approver", "timestamp"})
_DECISION: Final = "approved"
_COMMENTS: Final = frozenset({"reason", "comment", "comments", "note", "notes"})
_CACHE_SIZE: Final = 256
log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Form:
    """What the templates render and ``parse_submission`` reads back.

    ``kind`` is "fields" (inputs for every property), "approve_reject" (a comment box and
    two buttons) or "json" (the JSON editor; ``fallback`` says why).
    """

    kind: FormKind
    root: Field | None
    schema: dict[str, Any] | bool
    server_fields: frozenset[str] = SERVER_FIELDS
    id_prefix: str = ROOT_NAME
    fallback: str | None = None

    @cached_property
    def validator(self) -> Draft202012Validator:
        """The draft 2020-12 validator (``format`` is an annotation, as the draft says)."""
        return Draft202012Validator(self.schema)

    @cached_property
    def declared(self) -> frozenset[str]:
        """Top-level property names the schema (or a branch of it) declares."""
        names: set[str] = set()
        if isinstance(self.schema, dict):
            branches: list[Any] = [self.schema]
            for keyword in ("allOf", "anyOf", "oneOf"):
                parts = self.schema.get(keyword)
                branches += parts if isinstance(parts, list) else []
            branches += [self.schema.get(k) for k in ("if", "then", "else")]
            for branch in branches:
                properties = branch.get("properties") if isinstance(branch, dict) else None
                names.update(properties if isinstance(properties, dict) else ())
        return frozenset(names)

    @property
    def json_id(self) -> str:
        return f"{self.id_prefix}--json"

    @property
    def decision(self) -> Field | None:
        """The approve/reject buttons' field (approve_reject forms only)."""
        if self.kind != "approve_reject" or not isinstance(self.root, ObjectField):
            return None
        return self.root.child(_DECISION)

    @property
    def comments(self) -> list[Field]:
        """The text fields shown above the approve/reject buttons."""
        if not isinstance(self.root, ObjectField):
            return []
        return [child for child in self.root.children if child.prop != _DECISION]

    def initial_values(self) -> FormValues:
        """The values a fresh form shows: defaults, and the rows ``minItems`` asks for."""
        values: FormValues = {}
        if self.root is not None:
            self.root.initial(values)
        return values

    def json_text(self, values: FormValues) -> str:
        """The JSON editor's text: as posted, else the default, else a skeleton."""
        posted = first(values, "_json")
        if posted is not None:
            return posted
        value = skeleton(self.schema, self.server_fields)
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)

    @cached_property
    def schema_text(self) -> str:
        return json.dumps(self.schema, indent=2, ensure_ascii=False, default=str)


def build_form(
    schema: dict[str, Any] | bool | None,
    *,
    server_fields: frozenset[str] = SERVER_FIELDS,
    id_prefix: str = ROOT_NAME,
) -> Form:
    """The form for ``schema``; never raises: what it cannot render becomes the JSON editor.

    ``server_fields`` are top-level properties the server fills itself: never inputs.
    ``id_prefix`` starts every element id, so that two forms on one page stay apart.
    """
    text = _cache_text(schema)
    if text is None:
        return _json_form(schema, server_fields, id_prefix, "a schema that is not JSON")
    cache_key = (text, server_fields, id_prefix)
    form = _cache.get(cache_key)
    if form is None:
        form = _build(schema, server_fields, id_prefix)
        _cache[cache_key] = form
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return form


_cache: OrderedDict[tuple[str, frozenset[str], str], Form] = OrderedDict()


def _cache_text(schema: Any) -> str | None:
    """The schema as text, keys in their order (the order the fields are shown in)."""
    if canonical(schema) is None:
        return None
    return json.dumps(schema, ensure_ascii=False)


def _build(
    schema: dict[str, Any] | bool | None, server_fields: frozenset[str], id_prefix: str
) -> Form:
    if not isinstance(schema, dict):
        return _json_form(schema, server_fields, id_prefix, "no schema, or a boolean one")
    try:
        Draft202012Validator.check_schema(schema)
        builder = Builder(Shaper(schema, not _has_nested_id(schema)), id_prefix, server_fields)
        root = builder.field(schema, Place((), ROOT_NAME, "Value", True, True))
    except Unsupported as exc:
        return _json_form(schema, server_fields, id_prefix, str(exc))
    except SchemaError as exc:  # the engine refuses such schemas; a JSON editor all the same
        return _json_form(schema, server_fields, id_prefix, f"an invalid schema ({exc.message})")
    except Exception as exc:  # a schema no validator accepts, or a bug: still a JSON editor
        log.warning("JSON editor for a schema the forms could not read: %r", exc)
        return _json_form(schema, server_fields, id_prefix, f"an unreadable schema ({exc})")
    if isinstance(root, ObjectField) and not root.children and not schema.get("properties"):
        return _json_form(schema, server_fields, id_prefix, "an object without properties")
    if isinstance(root, ObjectField) and _approves_or_rejects(root):
        return Form("approve_reject", _as_buttons(root), schema, server_fields, id_prefix)
    return Form("fields", root, schema, server_fields, id_prefix)


def _json_form(schema: Any, server_fields: frozenset[str], id_prefix: str, why: str) -> Form:
    usable: dict[str, Any] | bool = schema if isinstance(schema, dict | bool) else True
    if schema is not None and not isinstance(schema, dict | bool):
        usable = False  # not a schema at all: nothing can be valid against it
    return Form("json", None, usable, server_fields, id_prefix, fallback=why)


def _has_nested_id(schema: dict[str, Any]) -> bool:
    """Whether a subschema sets ``$id``: local ``$ref``s would then resolve against it."""
    stack: list[Any] = [value for key, value in schema.items() if key != "$id"]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "$id" in node:
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def _approves_or_rejects(root: ObjectField) -> bool:
    """An object of a boolean ``approved`` and otherwise only optional free texts."""
    decision = root.child(_DECISION)
    if not isinstance(decision, BooleanField) or decision.read_only:
        return False
    return all(
        isinstance(child, StringField) and not child.required and not child.read_only
        for child in root.children
        if child is not decision
    )


def _as_buttons(root: ObjectField) -> ObjectField:
    """The approve/reject shape: the boolean as two buttons, comments as textareas."""
    children: list[Field] = []
    for child in root.children:
        if isinstance(child, BooleanField):
            common = {f.name: getattr(child, f.name) for f in dataclasses.fields(Field)}
            options = (Option("true", True, "Approve"), Option("false", False, "Reject"))
            children.append(EnumField(**common, options=options, widget="buttons"))
        elif isinstance(child, StringField) and child.prop in _COMMENTS:
            children.append(dataclasses.replace(child, input_type="textarea", pattern=None))
        else:
            children.append(child)
    return dataclasses.replace(root, children=tuple(children))
