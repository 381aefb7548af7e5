"""Arrays of scalars or objects: rows with Remove buttons and an Add button, all plain
submit buttons that re-render the form on the server; nested objects: fieldsets."""

from __future__ import annotations

from form_helpers import accepted, form_of, post
from html_helpers import assert_well_formed, render

LINES = {
    "type": "array",
    "title": "Lines",
    "items": {
        "type": "object",
        "title": "Line",
        "properties": {
            "sku": {"type": "string"},
            "price": {"type": "number", "minimum": 0},
            "qty": {"type": "integer", "default": 1},
        },
        "required": ["sku", "price"],
    },
}


def test_rows_post_with_indexed_names_and_become_a_list() -> None:
    form = form_of({"lines": LINES})
    payload = accepted(
        form,
        {
            "f.lines._rows": "2",
            "f.lines.0.sku": "A",
            "f.lines.0.price": "2",
            "f.lines.1.sku": "B",
            "f.lines.1.price": "0.5",
            "f.lines.1.qty": "4",
        },
    )
    assert payload == {"lines": [{"sku": "A", "price": 2}, {"sku": "B", "price": 0.5, "qty": 4}]}


def test_each_row_renders_with_a_remove_button_and_the_list_with_an_add_button() -> None:
    form = form_of({"lines": LINES})
    values = {"f.lines._rows": ["2"], "f.lines.0.sku": ["A"], "f.lines.1.sku": ["B"]}
    page = render(form, values)
    assert [e["value"] for e in page.find_all("input", name="f.lines.1.sku")] == ["B"]
    removes = page.find_all("button", value="remove:lines/1")
    assert len(removes) == 1 and removes[0]["name"] == "_action"
    assert removes[0].has("formnovalidate")
    add = page.find("button", value="add:lines")
    assert (add["type"], add["name"], add.text) == ("submit", "_action", "Add line")
    rows = page.find_all("fieldset", class_="form-field form-object")
    legends = [row.find_all("legend")[0].text for row in rows]
    assert legends == ["Line 1", "Line 2"]
    assert_well_formed(page)


def test_add_re_renders_with_one_more_row_prefilled_from_defaults_and_sends_nothing() -> None:
    form = form_of({"lines": LINES})
    submission = post(form, {"f.lines._rows": "1", "f.lines.0.sku": "A", "_action": "add:lines"})
    assert (submission.action, submission.valid, submission.errors) == ("add:lines", False, {})
    assert submission.values["f.lines._rows"] == ["2"]
    assert submission.values["f.lines.0.sku"] == ["A"]
    page = render(form, submission.values)
    assert page.find("input", name="f.lines.1.qty")["value"] == "1"


def test_remove_drops_the_row_and_moves_the_later_ones_up() -> None:
    form = form_of({"lines": LINES})
    submission = post(
        form,
        {
            "f.lines._rows": "3",
            "f.lines.0.sku": "A",
            "f.lines.1.sku": "B",
            "f.lines.2.sku": "C",
            "_action": "remove:lines/1",
        },
    )
    assert submission.values == {
        "f.lines._rows": ["2"],
        "f.lines.0.sku": ["A"],
        "f.lines.1.sku": ["C"],
    }


def test_a_button_for_a_row_that_is_not_there_is_a_form_error() -> None:
    form = form_of({"lines": LINES})
    submission = post(form, {"f.lines._rows": "1", "_action": "remove:lines/7"})
    assert submission.errors == {"": ["That button does not belong to this form."]}
    assert not submission.valid


def test_the_add_button_disappears_at_max_items() -> None:
    form = form_of({"tags": {"type": "array", "items": {"type": "string"}, "maxItems": 1}})
    assert render(form, {"f.tags._rows": ["0"]}).find_all("button", value="add:tags")
    assert not render(form, {"f.tags._rows": ["1"]}).find_all("button", value="add:tags")
    refused = post(form, {"f.tags._rows": "1", "_action": "add:tags"})
    assert refused.errors == {"tags": ["Can have at most 1 items."]}


def test_rows_of_scalars_and_errors_inside_a_row() -> None:
    form = form_of({"scores": {"type": "array", "items": {"type": "integer", "minimum": 0}}})
    assert accepted(form, {"f.scores.0": "3", "f.scores.1": "4"}) == {"scores": [3, 4]}
    submission = post(form, {"f.scores._rows": "3", "f.scores.0": "1", "f.scores.1": "-1"})
    assert submission.errors == {
        "scores/1": ["Must be at least 0."],
        "scores/2": ["Fill in this row or remove it."],
    }
    page = render(form, submission.values, submission.errors)
    assert page.find("input", name="f.scores.1")["aria-invalid"] == "true"
    assert page.by_id("f-scores-1--error").text == "Must be at least 0."


def test_errors_inside_object_rows_are_keyed_by_the_row_path() -> None:
    form = form_of({"lines": LINES})
    submission = post(form, {"f.lines._rows": "1", "f.lines.0.sku": "A", "f.lines.0.price": "-2"})
    assert submission.errors == {"lines/0/price": ["Must be at least 0."]}
    page = render(form, submission.values, submission.errors)
    assert page.find("input", name="f.lines.0.price")["value"] == "-2"
    assert page.by_id("f-lines-0-price--error").text == "Must be at least 0."


def test_a_required_list_with_min_items_starts_with_that_many_rows() -> None:
    form = form_of(
        {"names": {"type": "array", "items": {"type": "string"}, "minItems": 2}}, ["names"]
    )
    page = render(form)
    assert len(page.find_all("input", type="text")) == 2
    assert not page.find_all("button", value="remove:names/0")


def test_a_nested_object_is_a_fieldset_with_a_legend() -> None:
    form = form_of(
        {
            "address": {
                "type": "object",
                "title": "Address",
                "properties": {"city": {"type": "string"}, "zip": {"type": "string"}},
                "required": ["city"],
            }
        },
        ["address"],
    )
    page = render(form)
    fieldset = page.find("fieldset", id="f-address")
    assert fieldset.find("legend").text == "Address *"
    assert fieldset.find("input", name="f.address.city").has("required")
    assert accepted(form, {"f.address.city": "Lyon", "f.address.zip": ""}) == {
        "address": {"city": "Lyon"}
    }
    assert post(form, {"f.address.city": ""}).errors == {
        "address/city": ["This field is required."]
    }


def test_an_optional_nested_object_left_blank_is_left_out_and_not_required_by_the_browser() -> None:
    form = form_of(
        {
            "address": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            }
        }
    )
    page = render(form)
    city = page.find("input", name="f.address.city")
    assert not city.has("required") and city["aria-required"] == "true"
    assert accepted(form, {"f.address.city": ""}) == {}
