"""Random form data against random schemas: ``parse_submission`` never raises, and what it
accepts the schema accepts; what ``encode_values`` writes reads back to the same payload."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from app.web.forms import Field, Form, build_form, encode_values, parse_submission
from app.web.forms.containers import ArrayField, ChoiceField, ObjectField

SUITE = Path("/work/shared/data/json-schema-test-suite/draft2020-12")
NAMES = ["amount", "items", "reason", "approved", "approver", "note", "x", "a.b", "~", "0", "_rows"]
SCALAR_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
)

strings = st.fixed_dictionaries(
    {"type": st.just("string")},
    optional={
        "format": st.sampled_from(["email", "uri", "date", "date-time", "time", "textarea", "x"]),
        "minLength": st.integers(0, 3),
        "maxLength": st.integers(0, 300),
        "pattern": st.sampled_from(["^[a-z]+$", "a", "[0-9]"]),
        "default": st.text(max_size=5),
        "readOnly": st.booleans(),
        "title": st.text(max_size=5),
        "description": st.text(max_size=5),
    },
)
numbers = st.fixed_dictionaries(
    {"type": st.sampled_from(["integer", "number"])},
    optional={
        "minimum": st.integers(-5, 5),
        "maximum": st.integers(-5, 100),
        "exclusiveMinimum": st.floats(-5, 5),
        "multipleOf": st.sampled_from([1, 2, 0.5, 0.01]),
        "default": st.integers(-5, 5),
    },
)
scalars = st.one_of(
    strings,
    numbers,
    st.just({"type": "boolean"}),
    st.builds(lambda t: {"type": [t, "null"]}, st.sampled_from(["string", "integer", "boolean"])),
    st.builds(
        lambda t: {"anyOf": [{"type": t}, {"type": "null"}]}, st.sampled_from(["string", "number"])
    ),
    st.builds(lambda v: {"enum": v}, st.lists(SCALAR_VALUES, min_size=1, max_size=8)),
    st.builds(lambda v: {"const": v}, SCALAR_VALUES),
)


def _objects(children: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    properties = st.dictionaries(st.sampled_from(NAMES), children, min_size=1, max_size=4)
    return properties.flatmap(
        lambda props: st.fixed_dictionaries(
            {
                "type": st.just("object"),
                "properties": st.just(props),
                "required": st.lists(st.sampled_from(sorted(props)), unique=True),
            },
            optional={"additionalProperties": st.booleans()},
        )
    )


def _extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        _objects(children),
        st.builds(
            lambda items, low: {"type": "array", "items": items, "minItems": low},
            children,
            st.integers(0, 2),
        ),
        st.builds(
            lambda v: {"type": "array", "items": {"enum": v}, "uniqueItems": True},
            st.lists(SCALAR_VALUES, min_size=1, max_size=4),
        ),
    )


def _choice(fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "oneOf": [
            {"properties": {"kind": {"const": "a"}, **fields}, "required": ["kind"]},
            {
                "properties": {"kind": {"const": "b"}, "n": {"type": "integer"}},
                "required": ["kind", "n"],
            },
        ],
    }


def _suite_schemas() -> list[Any]:
    if not SUITE.is_dir():
        return [{"type": "object", "properties": {"x": {"type": "string"}}}]
    return [
        group["schema"]
        for path in sorted(SUITE.glob("*.json"))
        for group in json.loads(path.read_text())
    ]


object_schemas = st.one_of(
    _objects(st.recursive(scalars, _extend, max_leaves=6)),
    _objects(scalars).map(lambda schema: _choice(schema["properties"])),
    _objects(scalars).map(
        lambda schema: {
            **schema,
            "properties": {**schema["properties"], "approved": {"type": "boolean"}},
            "if": {"properties": {"approved": {"const": False}}},
            "then": {"required": sorted(schema["properties"])[:1]},
        }
    ),
    st.sampled_from(_suite_schemas()),
)
segments = st.one_of(
    st.sampled_from([*NAMES, "~v0", "~v1", "kind", "n"]),
    st.integers(0, 3).map(str),
    st.text(max_size=3),
)
names = st.one_of(
    st.lists(segments, max_size=4).map(lambda parts: ".".join(["f", *parts])),
    st.sampled_from(["_mode", "_json", "_action", "f.items._rows"]),
    st.text(max_size=6),
)
texts = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            "true",
            "on",
            "false",
            "json",
            "null",
            "1e999",
            "-0",
            "9" * 5000,
            "0.1",
            "[]",
            "{}",
            '{"x": 1}',
            "add:items",
            "remove:items/0",
            "mode:json",
            "remove:items/²",
            "add:items/0/x",
            "remove:~v0/1",
            "mode:fields",
            "2026-01-01T10:00",
            "12:00",
        ]
    ),
    st.integers(-(10**30), 10**30).map(str),
    st.floats().map(str),
)


def input_names(field: Field | None) -> list[str]:
    """Every input name of a form (arrays with two rows), to post to real inputs."""
    if isinstance(field, ObjectField):
        return [name for child in field.children for name in input_names(child)]
    if isinstance(field, ArrayField):
        rows = [name for index in range(2) for name in input_names(field.row(index))]
        return [field.rows_name, *rows]
    if isinstance(field, ChoiceField):
        return [
            field.disc_name,
            *(name for variant in field.variants for name in input_names(variant.fields)),
        ]
    return [] if field is None else [field.name]


def form_data(form: Form) -> st.SearchStrategy[dict[str, list[str]]]:
    real = input_names(form.root)
    keys = st.one_of(names, st.sampled_from(real)) if real else names
    return st.dictionaries(keys, st.lists(texts, min_size=1, max_size=3), max_size=8)


@pytest.fixture(autouse=True)
def _no_logged_errors(caplog: pytest.LogCaptureFixture) -> Any:
    caplog.set_level(logging.WARNING, logger="app.web.forms")
    yield
    assert not [r for r in caplog.records if r.name.startswith("app.web.forms")]


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    schema=object_schemas,
    draw=st.data(),
    server=st.dictionaries(st.sampled_from(["approver", "timestamp", "x"]), st.text(max_size=3)),
)
def test_random_posts_are_either_accepted_by_the_schema_or_answered_with_errors(
    schema: Any, draw: st.DataObject, server: dict[str, str]
) -> None:
    form = build_form(schema)
    data = draw.draw(form_data(form))
    event(f"{form.kind} form")
    submission = parse_submission(form, data, server_values=server)
    event("accepted" if submission.valid else "action" if submission.action else "errors")
    if submission.valid:
        assert not submission.errors and submission.action is None
        assert Draft202012Validator(form.schema).is_valid(submission.payload)
        values = encode_values(form, submission.payload)
        if values is not None:
            again = parse_submission(form, values, server_values=server)
            assert again.valid and again.payload == submission.payload
    else:
        assert submission.payload is None
        assert submission.errors or submission.action is not None
