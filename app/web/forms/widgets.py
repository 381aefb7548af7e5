"""The HTML attributes a scalar schema asks for: input types, lengths, bounds, steps."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

_FORMAT_INPUTS: Final = {
    "email": "email",
    "idn-email": "email",
    "uri": "url",
    "date": "date",
    "date-time": "datetime-local",
    "time": "time",
    "textarea": "textarea",
}
TEXTAREA_AFTER: Final = 200  # longer texts than this get a textarea


def string_attributes(schema: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The input type, length limits and pattern of a string schema, and its hints."""
    input_type = _FORMAT_INPUTS.get(str(schema.get("format")), "text")
    low, high = _count(schema.get("minLength")), _count(schema.get("maxLength"))
    if high is not None and high > TEXTAREA_AFTER and input_type == "text":
        input_type = "textarea"
    pattern = schema.get("pattern")
    attributes = {
        "input_type": input_type,
        "min_length": low,
        "max_length": high,
        # HTML matches a pattern against the whole value, JSON Schema searches for it.
        "pattern": f".*(?:{pattern}).*"
        if isinstance(pattern, str) and input_type != "textarea"
        else None,
    }
    hints = ("Time in UTC.",) if input_type in ("datetime-local", "time") else ()
    return attributes, hints


def number_attributes(
    schema: Mapping[str, Any], *, integer: bool
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """``min``/``max``/``step`` for a number input, and hints for exclusive bounds."""
    hints = []
    above, below = _number(schema.get("exclusiveMinimum")), _number(schema.get("exclusiveMaximum"))
    if above is not None:
        hints.append(f"Greater than {above}.")
    if below is not None:
        hints.append(f"Less than {below}.")
    step = _number(schema.get("multipleOf"))
    attributes = {
        "integer": integer,
        "minimum": _number(schema.get("minimum")),
        "maximum": _number(schema.get("maximum")),
        "step": step if step is not None else ("1" if integer else "any"),
    }
    return attributes, tuple(hints)


def _number(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return repr(value)
    except ValueError:  # an integer with more digits than Python will print
        return None


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    if isinstance(value, int):
        return value
    return int(value) if value.is_integer() else None


def fits_type(value: Any, kind: Any, nullable: bool) -> bool:
    """Whether ``value`` has the JSON type ``kind`` (any value fits no type)."""
    if value is None:
        return nullable or kind in (None, "null")
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return number and (isinstance(value, int) or float(value).is_integer())
    if kind == "number":
        return number
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    return bool(kind != "null")
