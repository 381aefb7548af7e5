"""Turn what a workflow declares as a signal's schema into a JSON Schema (draft 2020-12).

Workflows may describe a signal payload with a plain JSON Schema dict, a dataclass, a
TypedDict or a pydantic model class. The executor stores and validates against JSON Schema
only, so every form is converted here once, when the workflow is registered.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import inspect
import json
import math
import types
from collections.abc import Callable
from functools import lru_cache
from typing import (
    Annotated,
    Any,
    Literal,
    NotRequired,
    Required,
    Union,
    get_args,
    get_origin,
    get_type_hints,
    is_typeddict,
)

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

_SIMPLE: dict[object, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
    datetime.datetime: {"type": "string", "format": "date-time"},
    datetime.date: {"type": "string", "format": "date"},
    list: {"type": "array"},
    tuple: {"type": "array"},
    set: {"type": "array", "uniqueItems": True},
    frozenset: {"type": "array", "uniqueItems": True},
    dict: {"type": "object"},
}
_ARRAYS = (list, tuple, set, frozenset)
_NOT_JSON = object()


def to_json_schema(spec: object) -> dict[str, Any] | None:
    """The JSON Schema for ``spec``, or None when the signal takes any payload.

    Raises ``TypeError`` for an invalid schema dict or a kind of spec we cannot convert,
    so a mistake shows up when the workflow is declared rather than when a signal comes.
    """
    if spec is None:
        return None
    if isinstance(spec, dict):
        problem = _schema_problem(json.dumps(spec, sort_keys=True, default=str))
        if problem is not None:
            raise TypeError(f"invalid JSON Schema for a signal: {problem}")
        return spec
    model_json_schema = getattr(spec, "model_json_schema", None)
    if isinstance(spec, type) and callable(model_json_schema):
        # A pydantic model (duck-typed so pydantic stays an optional dependency).
        schema = model_json_schema()
        if not isinstance(schema, dict):
            raise TypeError(f"{spec.__name__}.model_json_schema() did not return a dict")
        return schema
    if isinstance(spec, type) and (dataclasses.is_dataclass(spec) or is_typeddict(spec)):
        return _object_schema(spec, ())
    raise TypeError(
        f"unsupported signal schema {spec!r}: expected None, a JSON Schema dict, "
        "a dataclass, a TypedDict or a pydantic model class"
    )


@lru_cache(maxsize=512)
def _schema_problem(schema_json: str) -> str | None:
    """Why a schema is invalid, or None; cached, because every wait of a workflow checks
    the same schema again (2 ms each, on the event loop)."""
    try:
        Draft202012Validator.check_schema(json.loads(schema_json))
    except SchemaError as exc:
        return str(exc.message)
    return None


def _object_schema(cls: type, seen: tuple[type, ...]) -> dict[str, Any]:
    """An object schema from a dataclass's fields or a TypedDict's keys."""
    if cls in seen:
        raise TypeError(f"recursive type {cls.__name__} is not supported in a signal schema")
    seen = (*seen, cls)
    try:
        hints = get_type_hints(cls, include_extras=True)
    except NameError as exc:
        raise TypeError(f"cannot resolve the annotations of {cls.__name__}: {exc}") from exc
    properties: dict[str, Any] = {}
    required: list[str] = []
    if dataclasses.is_dataclass(cls):
        for f in dataclasses.fields(cls):
            if not f.init:
                continue  # not settable from a payload
            prop = _type_schema(hints[f.name], seen)
            description = f.metadata.get("description")
            if description is not None:
                prop["description"] = str(description)
            if f.default is not dataclasses.MISSING:
                default = _json_value(f.default)
            elif f.default_factory is not dataclasses.MISSING:
                default = _json_value(f.default_factory())
            else:
                required.append(f.name)
                default = _NOT_JSON
            if default is not _NOT_JSON:
                prop["default"] = default
            properties[f.name] = prop
    else:
        required_keys: frozenset[str] = getattr(cls, "__required_keys__", frozenset())
        for name, hint in hints.items():
            properties[name] = _type_schema(hint, seen)
            # Python 3.11 misses a NotRequired[...] written as a string annotation
            # (``from __future__ import annotations``) in __required_keys__; the hint has it.
            wrapper = get_origin(hint)
            if wrapper is Required or (name in required_keys and wrapper is not NotRequired):
                required.append(name)
    return {
        "type": "object",
        "title": cls.__name__,
        "properties": properties,
        "required": required,
        "additionalProperties": True,
    }


def _type_schema(tp: Any, seen: tuple[type, ...]) -> dict[str, Any]:
    """The schema of one annotation; ``TypeError`` names the type we cannot map."""
    if tp is Any:
        return {}
    if tp in _SIMPLE:
        return dict(_SIMPLE[tp])
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Annotated, Required, NotRequired):
        return _type_schema(args[0], seen)
    if origin in (Union, types.UnionType):
        return {"anyOf": [_type_schema(arg, seen) for arg in args]}
    if origin is Literal:
        return {"enum": [_enum_value(arg, tp) for arg in args]}
    if origin in _ARRAYS:
        schema = dict(_SIMPLE[origin])
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            schema["items"] = _type_schema(args[0], seen)
        elif origin is tuple and args and args != ((),):
            schema["prefixItems"] = [_type_schema(arg, seen) for arg in args]
            schema.update(items=False, minItems=len(args))
        elif origin is tuple:
            schema["maxItems"] = 0
        elif args:
            schema["items"] = _type_schema(args[0], seen)
        return schema
    if origin is dict:
        if args and args[0] is not str:
            raise TypeError(f"unsupported type {tp!r}: JSON object keys must be str")
        schema = {"type": "object"}
        if args:
            schema["additionalProperties"] = _type_schema(args[1], seen)
        return schema
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"title": tp.__name__, "enum": [_enum_value(m.value, tp) for m in tp]}
    if isinstance(tp, type) and (dataclasses.is_dataclass(tp) or is_typeddict(tp)):
        return _object_schema(tp, seen)
    raise TypeError(f"unsupported type {tp!r} in a signal schema")


def _enum_value(value: object, tp: object) -> object:
    """A Literal or Enum value, which must be a JSON scalar to appear in ``enum``."""
    if value is None or isinstance(value, str | int | float):
        return value
    raise TypeError(f"unsupported type {tp!r}: value {value!r} is not a JSON scalar")


def _json_value(value: object) -> object:
    """``value`` as JSON (enums by value, tuples as lists), or ``_NOT_JSON``."""
    if isinstance(value, enum.Enum):
        value = value.value
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _NOT_JSON
    if isinstance(value, list | tuple):
        items = [_json_value(item) for item in value]
        return _NOT_JSON if any(item is _NOT_JSON for item in items) else items
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        pairs = {key: _json_value(item) for key, item in value.items()}
        return _NOT_JSON if any(item is _NOT_JSON for item in pairs.values()) else pairs
    return _NOT_JSON


def parameters_schema(fn: Callable[..., Any]) -> dict[str, Any]:
    """The JSON Schema of a workflow's parameters, from its signature's type hints.

    The dashboard's start page renders it as a form; positional-only and variadic
    parameters cannot be filled from a form and are refused with ``TypeError``.
    """
    hints = get_type_hints(fn, include_extras=True)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, parameter in inspect.signature(fn).parameters.items():
        if parameter.kind not in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
            raise TypeError(f"{fn.__qualname__}: parameter {name!r} cannot come from a form")
        schema = _type_schema(hints.get(name, Any), ())
        schema.setdefault("title", name.replace("_", " ").capitalize())
        if parameter.default is inspect.Parameter.empty:
            required.append(name)
        elif (default := _json_value(parameter.default)) is not _NOT_JSON:
            schema["default"] = default
        properties[name] = schema
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
