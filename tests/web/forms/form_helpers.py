"""Posting to a form the way a browser does, for the form tests."""

from __future__ import annotations

from typing import Any

from app.web.forms import Form, Submission, build_form, parse_submission


def form_of(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> Form:
    """A fields form for an object schema with ``properties`` (nothing server-filled)."""
    schema = {"type": "object", "properties": properties, "required": required or [], **extra}
    form = build_form(schema, server_fields=frozenset())
    assert form.kind == "fields", form.fallback
    return form


def post(
    form: Form, data: dict[str, str | list[str]], server_values: dict[str, Any] | None = None
) -> Submission:
    """Submit ``data`` (a value or a list of values per input name)."""
    values = {name: value if isinstance(value, list) else [value] for name, value in data.items()}
    return parse_submission(form, values, server_values=server_values or {})


def accepted(form: Form, data: dict[str, str | list[str]]) -> Any:
    """The payload of a submission that must be valid."""
    submission = post(form, data)
    assert submission.valid and not submission.errors, submission.errors
    return submission.payload
