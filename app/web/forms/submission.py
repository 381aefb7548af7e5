"""Reading a submitted form back into the JSON payload a wait receives."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from .actions import JSON_MODE, apply_action, field_values, json_values
from .encoding import read_json
from .form import Form
from .paths import MISSING
from .reader import FormValues, Reader, first, normalize
from .validation import Errors, check

MAX_ACTION_CHARS: Final = 200
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Submission:
    """What came of a post: the payload to send (when ``valid``) or what to show again.

    ``errors`` are keyed by field path ("amount", "items/0/price", "" for the form);
    ``values`` are the posted values to re-render, the person's own text kept;
    ``action`` is set for a button that changes the form (add/remove a row, switch mode):
    such a post is never sent.
    """

    payload: Any | None
    errors: Errors = field(default_factory=dict)
    values: FormValues = field(default_factory=dict)
    action: str | None = None
    valid: bool = False


def parse_submission(form: Form, data: object, *, server_values: Mapping[str, Any]) -> Submission:
    """The submission of ``data`` (a Starlette ``FormData`` or any multi-dict) to ``form``.

    ``server_values`` (the approver, the time) replace whatever the client sent for those
    properties. Never raises: anything wrong with the input comes back as ``errors``.
    """
    try:
        values = normalize(data)
        action = first(values, "_action")
        if action:
            return _act(form, values, action[:MAX_ACTION_CHARS])
        if form.kind == "json" or first(values, "_mode") == JSON_MODE:
            return _from_json(form, values, server_values)
        return _from_fields(form, values, server_values)
    except Exception:  # "never raises" is the contract; a bug is logged, the person retries
        log.exception("could not read a form submission")
        return Submission(None, {"": ["This form could not be read; please try again."]})


def _act(form: Form, values: FormValues, action: str) -> Submission:
    outcome = apply_action(form, values, action)
    if outcome is None:
        kept = (
            json_values(first(values, "_json") or "")
            if first(values, "_mode") == JSON_MODE
            else field_values(values)
        )
        return Submission(None, {"": ["That button does not belong to this form."]}, kept, action)
    new_values, errors = outcome
    return Submission(None, errors, new_values, action)


def _from_fields(form: Form, values: FormValues, server: Mapping[str, Any]) -> Submission:
    kept = field_values(values)
    if form.root is None:
        return Submission(None, {"": ["This form takes JSON."]}, json_values(""))
    reader = Reader(values)
    payload = form.root.decode(reader)
    return _finish(form, payload, reader.errors, kept, server, by_field=True)


def _from_json(form: Form, values: FormValues, server: Mapping[str, Any]) -> Submission:
    text = first(values, "_json") or ""
    kept = json_values(text)
    payload, problem = read_json(text)
    if problem is not None:
        return Submission(None, {"": [problem]}, kept)
    return _finish(form, payload, {}, kept, server, by_field=False)


def _finish(
    form: Form,
    payload: Any,
    taken: Errors,
    kept: FormValues,
    server: Mapping[str, Any],
    *,
    by_field: bool,
) -> Submission:
    """Add the server's values, validate, and keep every error (the form's own first)."""
    if payload is MISSING:
        return Submission(None, taken or {"": ["Fill in the form."]}, kept)
    payload = _with_server_values(form, payload, server)
    errors = {key: list(messages) for key, messages in taken.items()}
    for key, messages in check(form, payload, by_field=by_field, taken=taken).items():
        errors.setdefault(key, []).extend(m for m in messages if m not in errors[key])
    if errors:
        return Submission(None, errors, kept)
    return Submission(payload, {}, kept, valid=True)


def _with_server_values(form: Form, payload: Any, server: Mapping[str, Any]) -> Any:
    """The server always wins: client values for server fields go, the server's come in."""
    if not isinstance(payload, dict):
        return payload
    merged = {k: v for k, v in payload.items() if k not in form.server_fields}
    merged.update((k, v) for k, v in server.items() if k in form.declared)
    return merged
