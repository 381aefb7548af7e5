"""Enums: radios for a few options, a select for more; arrays of enums: checkboxes."""

from __future__ import annotations

from form_helpers import accepted, form_of, post
from html_helpers import assert_well_formed, render

from app.web.forms import encode_values


def test_an_enum_of_up_to_five_options_is_a_radio_group() -> None:
    form = form_of({"priority": {"enum": ["low", "high"], "title": "Priority"}}, ["priority"])
    page = render(form)
    radios = page.find_all("input", name="f.priority")
    assert [(r["type"], r["value"]) for r in radios] == [("radio", "low"), ("radio", "high")]
    assert all(r.has("required") for r in radios)
    assert [page.label_for(r).text for r in radios] == ["low", "high"]
    assert page.find("fieldset").find("legend").text == "Priority *"
    assert_well_formed(page)
    assert accepted(form, {"f.priority": "high"}) == {"priority": "high"}


def test_an_enum_of_more_options_is_a_select_with_an_empty_choice() -> None:
    form = form_of({"n": {"type": "integer", "enum": [1, 2, 3, 4, 5, 6], "default": 3}})
    page = render(form)
    select = page.find("select", name="f.n")
    options = select.find_all("option")
    assert [o["value"] for o in options] == ["", "1", "2", "3", "4", "5", "6"]
    assert [o["value"] for o in options if o.has("selected")] == ["3"]
    assert page.label_for(select).text == "N"
    assert accepted(form, {"f.n": "6"}) == {"n": 6}
    assert accepted(form, {"f.n": ""}) == {}


def test_an_unknown_option_is_an_error() -> None:
    form = form_of({"priority": {"enum": ["low", "high"]}})
    assert post(form, {"f.priority": "urgent"}).errors == {
        "priority": ["Choose one of the options."]
    }


def test_mixed_enum_values_post_as_json_and_come_back_with_their_types() -> None:
    form = form_of({"v": {"enum": ["1", 1, True, None]}})
    tokens = [r["value"] for r in render(form).find_all("input", name="f.v")]
    assert tokens == ['"1"', "1", "true", "null"]
    assert accepted(form, {"f.v": "1"}) == {"v": 1}
    assert accepted(form, {"f.v": '"1"'}) == {"v": "1"}
    assert accepted(form, {"f.v": "null"}) == {"v": None}


def test_titled_constants_in_a_one_of_are_an_enum_with_labels() -> None:
    form = form_of(
        {"level": {"oneOf": [{"const": 1, "title": "Low"}, {"const": 2, "title": "High"}]}}
    )
    page = render(form)
    assert [page.label_for(r).text for r in page.find_all("input", name="f.level")] == [
        "Low",
        "High",
    ]
    assert accepted(form, {"f.level": "2"}) == {"level": 2}


def test_a_nullable_boolean_is_yes_no_and_empty_is_null() -> None:
    form = form_of({"ok": {"type": ["boolean", "null"]}})
    assert [r["value"] for r in render(form).find_all("input", name="f.ok")] == ["true", "false"]
    assert accepted(form, {"f.ok": "false"}) == {"ok": False}
    assert accepted(form, {}) == {"ok": None}


def test_an_array_of_enums_is_a_checkbox_group_posting_repeated_names() -> None:
    form = form_of(
        {
            "tags": {
                "type": "array",
                "items": {"enum": ["red", "green", "blue"]},
                "uniqueItems": True,
                "default": ["green"],
            }
        },
        ["tags"],
    )
    page = render(form)
    boxes = page.find_all("input", name="f.tags")
    assert [(b["type"], b["value"], b.has("checked")) for b in boxes] == [
        ("checkbox", "red", False),
        ("checkbox", "green", True),
        ("checkbox", "blue", False),
    ]
    assert_well_formed(page)
    assert accepted(form, {"f.tags": ["red", "blue"]}) == {"tags": ["red", "blue"]}
    assert accepted(form, {}) == {"tags": []}  # required: nothing ticked is the empty list
    assert encode_values(form, {"tags": ["blue", "red"]}) is None  # not the order shown


def test_an_optional_checkbox_group_left_empty_is_left_out() -> None:
    form = form_of({"tags": {"type": "array", "items": {"enum": ["a", "b"]}}})
    assert accepted(form, {}) == {}
