"""What the fields cannot show faithfully goes to the JSON editor, which every form has;
some common shapes (local $refs, nullable anyOf, allOf) are read into fields."""

from __future__ import annotations

from typing import Any

import pytest
from form_helpers import accepted, post
from html_helpers import assert_well_formed, render

from app.web.forms import build_form, encode_values, parse_submission

OBJECT = {"type": "object"}


@pytest.mark.parametrize(
    "schema",
    [
        {**OBJECT, "properties": {"a": {"$ref": "https://example.com/a.json"}}},
        {
            **OBJECT,
            "$defs": {"n": {**OBJECT, "properties": {"next": {"$ref": "#/$defs/n"}}}},
            "properties": {"head": {"$ref": "#/$defs/n"}},
        },
        {**OBJECT, "properties": {"a": {"type": "string", "not": {"const": "x"}}}},
        {**OBJECT, "properties": {"a": {"type": "string"}}, "patternProperties": {"^x": {}}},
        {
            **OBJECT,
            "properties": {"a": {"type": "string"}},
            "additionalProperties": {"type": "integer"},
        },
        {**OBJECT, "properties": {"a": {"anyOf": [{"type": "string"}, {"type": "integer"}]}}},
        {**OBJECT, "properties": {"a": {"type": "string"}}, "dependentSchemas": {"a": {}}},
        {**OBJECT, "properties": {"a": {"type": "array", "prefixItems": [{"type": "string"}]}}},
        {
            **OBJECT,
            "properties": {
                "a": {"type": "array", "items": {"type": "string"}, "contains": {"const": "x"}}
            },
        },
        {**OBJECT, "properties": {"a": True}},
        {**OBJECT, "properties": {"a": {}}},
        {**OBJECT, "properties": {"a": {"type": ["string", "integer"]}}},
        {**OBJECT, "properties": {"a": {"type": "string"}}, "required": ["b"]},
        {
            **OBJECT,
            "properties": {"a": {"type": "boolean"}},
            "if": {"properties": {"a": {"const": True}}},
            "then": {"required": ["b"]},
        },
        {"$dynamicRef": "#x"},
        {"type": "object"},
        True,
        False,
        None,
    ],
)
def test_unsupported_constructs_become_a_json_editor(schema: Any) -> None:
    form = build_form(schema, server_fields=frozenset())
    assert form.kind == "json" and form.root is None and form.fallback
    page = render(form)
    editor = page.find("textarea", name="_json")
    assert page.label_for(editor).text == "Answer as JSON"
    assert page.find("input", name="_mode")["value"] == "json"
    assert_well_formed(page)


def test_the_json_editor_starts_from_the_default_or_a_skeleton_and_validates() -> None:
    schema = {
        **OBJECT,
        "properties": {"a": {"not": {"type": "null"}}, "n": {"type": "integer"}},
        "required": ["a", "n"],
    }
    form = build_form(schema)
    assert render(form).find("textarea", name="_json").raw_text == '{\n  "a": null,\n  "n": 0\n}'
    submission = post(form, {"_json": '{"a": 1, "n": "x"}'})
    assert submission.errors == {"n": ["Must be a whole number."]}
    page = render(form, submission.values, submission.errors)
    assert page.find("textarea", name="_json").raw_text == '{"a": 1, "n": "x"}'
    assert page.find("p", class_="field-error").text == "n: Must be a whole number."
    assert accepted(form, {"_json": '{"a": 1, "n": 2}'}) == {"a": 1, "n": 2}


def test_text_that_is_not_json_is_a_form_error() -> None:
    form = build_form(True)
    assert post(form, {"_json": "{nope"}).errors[""][0].startswith("This is not valid JSON")
    assert post(form, {"_json": "NaN"}).errors[""][0].startswith("This is not valid JSON")
    assert post(form, {"_json": "[" * 100_000}).errors == {"": ["This JSON is nested too deeply."]}
    assert post(form, {"_json": ""}).errors == {"": ["Enter a JSON value."]}


def test_any_form_takes_json_when_asked_to() -> None:
    form = build_form({**OBJECT, "properties": {"n": {"type": "integer"}}})
    assert form.kind == "fields"
    assert accepted(form, {"_mode": "json", "_json": '{"n": 5}'}) == {"n": 5}
    page = render(form, {"_mode": ["json"], "_json": ['{"n": 5}']})
    assert page.find("textarea", name="_json").raw_text == '{"n": 5}'


def test_switching_between_fields_and_json_keeps_what_was_typed() -> None:
    form = build_form({**OBJECT, "properties": {"n": {"type": "integer"}}})
    to_json = post(form, {"f.n": "5", "_action": "mode:json"})
    assert to_json.values == {"_mode": ["json"], "_json": ['{\n  "n": 5\n}']}
    back = post(form, {**{k: v[0] for k, v in to_json.values.items()}, "_action": "mode:fields"})
    assert (back.values, back.errors) == ({"f.n": ["5"]}, {})
    assert (
        render(form, {"f.n": ["5"]}, macro="render_mode_switch").find("button", name="_action")[
            "value"
        ]
        == "mode:json"
    )
    assert (
        render(form, to_json.values, macro="render_mode_switch").find("button", name="_action")[
            "value"
        ]
        == "mode:fields"
    )
    stuck = post(form, {"_mode": "json", "_json": '{"n": 5, "x": 1}', "_action": "mode:fields"})
    assert stuck.errors == {"": ["This JSON cannot be shown as form fields; edit it here."]}


def test_local_refs_nullable_any_of_and_all_of_are_read_into_fields() -> None:
    schema = {
        **OBJECT,
        "$defs": {
            "Color": {"enum": ["red", "blue"], "type": "string"},
            "Item": {**OBJECT, "properties": {"name": {"type": "string"}}},
        },
        "allOf": [
            {"properties": {"color": {"$ref": "#/$defs/Color", "title": "Colour"}}},
            {
                "properties": {
                    "size": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None}
                }
            },
        ],
        "properties": {"items": {"type": "array", "items": {"$ref": "#/$defs/Item"}}},
    }
    form = build_form(schema)
    assert form.kind == "fields", form.fallback
    page = render(form)
    assert [r["value"] for r in page.find_all("input", name="f.color")] == ["red", "blue"]
    assert page.find("fieldset", id="f-color").find("legend").text == "Colour"
    assert accepted(form, {"f.color": "blue", "f.size": "", "f.items.0.name": "x"}) == {
        "color": "blue",
        "size": None,
        "items": [{"name": "x"}],
    }


def test_a_scalar_root_is_one_field_named_f() -> None:
    form = build_form({"type": "integer", "title": "Quantity"})
    page = render(form)
    field = page.find("input", name="f")
    assert page.label_for(field).text == "Quantity *"
    assert accepted(form, {"f": "4"}) == 4
    assert encode_values(form, 4) == {"f": ["4"]}
    assert post(form, {"f": ""}).errors == {"": ["Fill in the form."]}


def test_encode_values_is_none_for_what_the_fields_cannot_say() -> None:
    form = build_form({**OBJECT, "properties": {"s": {"type": "string"}, "n": {"type": "number"}}})
    assert encode_values(form, {"s": "a", "n": 1.5}) == {"f.s": ["a"], "f.n": ["1.5"]}
    assert encode_values(form, {"s": ""}) is None  # an empty input leaves it out
    assert encode_values(form, {"s": "two\nlines"}) is None  # a text input has one line
    assert encode_values(form, {"x": 1}) is None
    assert encode_values(form, [1]) is None
    assert encode_values(build_form(True), {}) is None


@pytest.mark.parametrize(
    "data",
    [
        None,
        42,
        "text",
        [],
        {"_action": 5},
        {"f.n": [None, object()]},
        {"f.n": "1" * 10_000},
        {"_mode": "json", "_json": "1" * 5000},
        {"_action": "add:"},
        {"_action": "remove:"},
        {"_action": "remove:n/x"},
        {"_action": "mode:nope"},
        {"_action": "remove:n/²"},
        {"_action": "add:n/²"},
        {"f.n._rows": "²"},
    ],
)
def test_parse_submission_never_raises(data: Any) -> None:
    form = build_form({**OBJECT, "properties": {"n": {"type": "integer"}}})
    submission = parse_submission(form, data, server_values={})
    assert submission.valid == (not submission.errors and submission.action is None)


def test_a_starlette_style_multidict_is_read_with_getlist() -> None:
    class MultiDict:
        def __init__(self, pairs: list[tuple[str, str]]) -> None:
            self.pairs = pairs

        def keys(self) -> list[str]:
            return list(dict(self.pairs))

        def getlist(self, key: str) -> list[str]:
            return [v for k, v in self.pairs if k == key]

    form = build_form(
        {**OBJECT, "properties": {"t": {"type": "array", "items": {"enum": ["a", "b"]}}}}
    )
    submission = parse_submission(form, MultiDict([("f.t", "a"), ("f.t", "b")]), server_values={})
    assert submission.payload == {"t": ["a", "b"]}


def test_a_recursive_ref_is_refused_without_recursing_forever(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tree = {
        "$defs": {
            "node": {
                **OBJECT,
                "properties": {
                    "name": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/node"}},
                },
            }
        },
        "$ref": "#/$defs/node",
    }
    form = build_form(tree)
    assert form.kind == "json" and form.fallback == "a recursive or non-local $ref"
    assert not caplog.records
