"""Checking a payload against the schema, with each error keyed where the form shows it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final

from jsonschema.exceptions import ValidationError

from .containers import ArrayField, ChoiceField, ObjectField
from .field import Field
from .form import Form
from .paths import Path, Segment, key_of
from .reader import MAX_ROWS

Errors = dict[str, list[str]]
MAX_ERRORS: Final = 50
_NOUNS: Final = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "an object",
    "array": "a list",
    "null": "empty",
}


def check(form: Form, payload: Any, *, by_field: bool, taken: Errors) -> Errors:
    """The schema's complaints about ``payload``; none where ``taken`` already has one.

    ``by_field`` keys each error by the nearest field the form renders (else by the
    error's own path, for the JSON editor). Never raises: a schema the validator cannot
    apply (an unresolvable ``$ref``, a bad pattern) is itself reported as an error.
    """
    errors: Errors = {}
    try:
        found = form.validator.iter_errors(payload)
        for error in _expanded(form, found, payload, by_field):
            for path, message in _describe(error):
                key = _locate(form.root, path, payload) if by_field else key_of(path)
                if not _covered(key, taken):
                    messages = errors.setdefault(key, [])
                    if message not in messages:
                        messages.append(message)
            if sum(len(messages) for messages in errors.values()) >= MAX_ERRORS:
                break
    except Exception as exc:  # the schema itself cannot be applied: say so, do not crash
        errors[""] = [f"This answer cannot be checked against its schema ({type(exc).__name__})."]
    return errors


def _expanded(
    form: Form, errors: Iterable[ValidationError], payload: Any, by_field: bool
) -> Iterator[ValidationError]:
    """The errors, a choice's "no variant matched" replaced by the chosen variant's errors."""
    for error in errors:
        field = _field_at(form.root, tuple(error.absolute_path), payload) if by_field else None
        if error.validator == "oneOf" and isinstance(field, ChoiceField):
            variant = field.variant_of(error.instance)
            if variant is not None:
                own = [
                    e
                    for e in error.context or []
                    if e.relative_schema_path and e.relative_schema_path[0] == variant.index
                ]
                yield from _expanded(form, own, payload, by_field)
                continue
        yield error


def _describe(error: ValidationError) -> list[tuple[Path, str]]:
    """Where an error belongs and what it says to a person."""
    path = tuple(error.absolute_path)
    if error.validator in ("required", "dependentRequired") and isinstance(error.instance, dict):
        names: Any = error.validator_value
        if isinstance(names, dict):  # dependentRequired: {trigger: [names]}
            names = [
                n
                for trigger, group in names.items()
                if trigger in error.instance
                for n in (group if isinstance(group, list) else [])
            ]
        missing = [n for n in names if isinstance(n, str) and n not in error.instance]
        return [((*path, name), "This field is required.") for name in missing]
    return [(path, message_of(error))]


def message_of(error: ValidationError) -> str:
    """A sentence for one validation error, in the words of a form rather than a validator."""
    value, kind = error.validator_value, error.validator
    plain = {
        "minLength": f"Must be at least {value} characters long.",
        "maxLength": f"Must be at most {value} characters long.",
        "pattern": f"Must match the pattern {value}.",
        "minimum": f"Must be at least {value}.",
        "maximum": f"Must be at most {value}.",
        "exclusiveMinimum": f"Must be greater than {value}.",
        "exclusiveMaximum": f"Must be less than {value}.",
        "multipleOf": f"Must be a multiple of {value}.",
        "enum": "Must be one of the listed values.",
        "minItems": f"Needs at least {value} items.",
        "maxItems": f"Can have at most {value} items.",
        "uniqueItems": "Items must all be different.",
    }
    if kind == "type" and error.instance is None:
        return "This field is required."  # an input left empty where null is not allowed
    if kind == "type":
        names = value if isinstance(value, list) else [value]
        return "Must be " + " or ".join(_NOUNS.get(str(n), str(n)) for n in names) + "."
    if kind == "minLength" and value == 1:
        return "Must not be empty."
    message = plain.get(str(kind), error.message)
    return message if len(message) <= 300 else message[:297] + "..."


def _field_at(root: Field | None, path: Sequence[Segment], payload: Any) -> Field | None:
    """The field rendered exactly at ``path``, or None."""
    field, consumed = _walk(root, path, payload)
    return field if consumed == len(path) else None


def _locate(root: Field | None, path: Sequence[Segment], payload: Any) -> str:
    """The key of the deepest field on ``path`` that the form renders ("" for none)."""
    field, consumed = _walk(root, path, payload)
    if isinstance(field, ChoiceField) and consumed < len(path) and path[consumed] == field.disc:
        return field.disc_key
    return field.key if field is not None else ""


def _walk(root: Field | None, path: Sequence[Segment], payload: Any) -> tuple[Field | None, int]:
    """How far down ``path`` the fields go: the last field reached and segments used."""
    field, value = root, payload
    for depth, segment in enumerate(path):
        holder = field
        if isinstance(holder, ChoiceField):
            variant = holder.variant_of(value)
            if variant is None or segment == holder.disc:
                return field, depth
            holder = variant.fields
        child: Field | None = None
        if isinstance(holder, ObjectField):
            child = holder.child(segment)
        elif isinstance(holder, ArrayField) and isinstance(segment, int) and segment < MAX_ROWS:
            child = holder.row(segment)
        if child is None:
            return field, depth
        field, value = child, _step(value, segment)
    return field, len(path)


def _step(value: Any, segment: Segment) -> Any:
    if isinstance(value, dict) and isinstance(segment, str):
        return value.get(segment)
    if isinstance(value, list) and isinstance(segment, int) and segment < len(value):
        return value[segment]
    return None


def _covered(key: str, taken: Errors) -> bool:
    """Whether reading the form already reported a problem at ``key`` or above it."""
    return any(key == done or key.startswith(done + "/") for done in taken if done)
