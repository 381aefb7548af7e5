"""From JSON to form values and back, and reading the JSON editor's text."""

from __future__ import annotations

import json
import logging
from typing import Any, Final

from .containers import ChoiceField, ObjectField
from .form import Form
from .paths import same_json
from .reader import FormValues, Reader

MAX_JSON_CHARS: Final = 1_000_000  # larger than any signal the executor accepts
log = logging.getLogger(__name__)


def encode_values(form: Form, payload: Any) -> FormValues | None:
    """The form data a browser would post for ``payload``, or None if the fields cannot
    express it exactly (then the JSON editor is the way to send it).

    Server-filled properties are left out: the server adds them on submit. The result is
    checked by reading it back, so a value the fields would change is never offered.
    """
    if form.root is None:
        return None
    try:
        value = payload
        if isinstance(payload, dict) and isinstance(form.root, ObjectField | ChoiceField):
            value = {k: v for k, v in payload.items() if k not in form.server_fields}
        out: FormValues = {}
        if not form.root.encode(value, out):
            return None
        reader = Reader(out)
        if reader.errors or not same_json(form.root.decode(reader), value):
            return None
        return out
    except Exception:  # a payload that upsets the fields is simply not expressible
        log.exception("could not encode a payload as form values")
        return None


def read_json(text: str) -> tuple[Any, str | None]:
    """The JSON value of the editor's text, or a sentence saying why there is none."""
    if not text.strip():
        return None, "Enter a JSON value."
    if len(text) > MAX_JSON_CHARS:
        return None, "This JSON is too large."
    try:
        return json.loads(text, parse_constant=_refuse_constant), None
    except RecursionError:
        return None, "This JSON is nested too deeply."
    except ValueError as exc:
        return None, f"This is not valid JSON: {exc}"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")
