"""The buttons that change the form instead of sending it: add or remove a row, and
switch between the fields and the JSON editor. Each works on the posted values alone,
so the page needs no JavaScript."""

from __future__ import annotations

import json
from typing import Any, Final

from .containers import ArrayField, ChoiceField, ObjectField
from .encoding import encode_values, read_json
from .field import Field
from .form import Form
from .paths import MISSING, ROOT_NAME, split_key
from .reader import FormValues, Reader, first, is_index

Outcome = tuple[FormValues, dict[str, list[str]]]
JSON_MODE: Final = "json"


def apply_action(form: Form, values: FormValues, action: str) -> Outcome | None:
    """The values to render again after ``action``, with any error; None if unknown."""
    verb, _, target = action.partition(":")
    if verb == "add":
        return _add(form, values, target)
    if verb == "remove":
        return _remove(form, values, target)
    if verb == "mode" and target == JSON_MODE:
        return _to_json(form, values)
    if verb == "mode" and target == "fields":
        return _to_fields(form, values)
    return None


def field_values(values: FormValues) -> FormValues:
    """The posted values that belong to inputs (``f`` and ``f.…``), to show them again."""
    return {
        name: posted
        for name, posted in values.items()
        if name == ROOT_NAME or name.startswith(ROOT_NAME + ".")
    }


def json_values(text: str) -> FormValues:
    return {"_mode": [JSON_MODE], "_json": [text]}


def _add(form: Form, values: FormValues, target: str) -> Outcome | None:
    array = _array_at(form, values, target)
    if array is None:
        return None
    kept = field_values(values)
    if not array.can_add(values):
        return kept, {array.key: [f"Can have at most {array.max_items} items."]}
    count = array.count(values)
    kept[array.rows_name] = [str(count + 1)]
    array.row(count).initial(kept)  # the new row starts from its defaults
    return kept, {}


def _remove(form: Form, values: FormValues, target: str) -> Outcome | None:
    parent, _, index_text = target.rpartition("/")
    array = _array_at(form, values, parent)
    if array is None or not is_index(index_text) or int(index_text) >= array.count(values):
        return None
    index, count, prefix = int(index_text), array.count(values), array.name + "."
    kept: FormValues = {}
    for name, posted in field_values(values).items():
        head, dot, tail = name[len(prefix) :].partition(".")
        if name.startswith(prefix) and is_index(head):
            if int(head) == index:
                continue
            if int(head) > index:  # later rows move up one
                name = f"{prefix}{int(head) - 1}{dot}{tail}"
        kept[name] = posted
    kept[array.rows_name] = [str(count - 1)]
    return kept, {}


def _array_at(form: Form, values: FormValues, key: str) -> ArrayField | None:
    """The array field whose error key is ``key``, following the rows and choices shown."""
    field: Field | None = form.root
    for segment in split_key(key):
        if isinstance(field, ChoiceField):
            variant = field.chosen(values)
            field = variant.fields if variant is not None else None
        if isinstance(field, ObjectField):
            field = field.child(segment)
        elif (
            isinstance(field, ArrayField)
            and is_index(segment)
            and int(segment) < field.count(values)
        ):
            field = field.row(int(segment))
        else:
            return None
    return field if isinstance(field, ArrayField) else None


def _to_json(form: Form, values: FormValues) -> Outcome:
    """The JSON editor, holding what the fields hold so far (nothing is lost)."""
    payload: Any = MISSING
    if form.root is not None and first(values, "_mode") != JSON_MODE:
        payload = form.root.decode(Reader(values))
    if payload is MISSING:
        return json_values(form.json_text(values)), {}
    return json_values(json.dumps(payload, indent=2, ensure_ascii=False)), {}


def _to_fields(form: Form, values: FormValues) -> Outcome:
    text = first(values, "_json") or ""
    payload, problem = read_json(text)
    encoded = encode_values(form, payload) if problem is None else None
    if encoded is None:
        message = problem or "This JSON cannot be shown as form fields; edit it here."
        return json_values(text), {"": [message]}
    return encoded, {}
