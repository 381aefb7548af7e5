"""Text, number and checkbox fields: the input each schema gets, and what a post becomes."""

from __future__ import annotations

from form_helpers import accepted, form_of, post
from html_helpers import assert_well_formed, render, render_form_errors

from app.web.forms import build_form, encode_values


def test_a_string_is_a_text_input_labelled_by_its_title_with_its_limits() -> None:
    form = form_of(
        {
            "code": {
                "type": "string",
                "title": "Cost centre",
                "minLength": 2,
                "maxLength": 8,
                "pattern": "^[A-Z]+$",
            }
        },
        ["code"],
    )
    page = render(form)
    field = page.find("input", name="f.code")
    assert field["type"] == "text"
    assert (field["minlength"], field["maxlength"]) == ("2", "8")
    assert field["pattern"] == ".*(?:^[A-Z]+$).*"  # HTML matches the whole value
    assert field.has("required")
    label = page.label_for(field)
    assert label.text == "Cost centre *"
    assert label.find("span", class_="required-marker")
    assert_well_formed(page)
    assert accepted(form, {"f.code": "ABC"}) == {"code": "ABC"}


def test_a_property_without_title_is_labelled_by_its_humanized_name() -> None:
    page = render(form_of({"due_date": {"type": "string"}, "costCentre": {"type": "string"}}))
    assert page.label_for(page.find("input", name="f.due_date")).text == "Due date"
    assert page.label_for(page.find("input", name="f.costCentre")).text == "Cost centre"


def test_formats_choose_the_input_type() -> None:
    form = form_of(
        {
            name: {"type": "string", "format": fmt}
            for name, fmt in [
                ("email", "email"),
                ("site", "uri"),
                ("day", "date"),
                ("at", "date-time"),
                ("clock", "time"),
                ("notes", "textarea"),
                ("other", "hostname"),
            ]
        }
    )
    page = render(form)
    types = {
        name: page.find("input", name=f"f.{name}")["type"]
        for name in ("email", "site", "day", "at", "clock", "other")
    }
    assert types == {
        "email": "email",
        "site": "url",
        "day": "date",
        "at": "datetime-local",
        "clock": "time",
        "other": "text",
    }
    assert page.find("textarea", name="f.notes")
    assert_well_formed(page)


def test_a_long_text_gets_a_textarea_whose_crlf_newlines_become_lf() -> None:
    form = form_of({"story": {"type": "string", "maxLength": 2000}})
    page = render(form)
    assert page.find("textarea", name="f.story")["maxlength"] == "2000"
    assert accepted(form, {"f.story": "one\r\ntwo"}) == {"story": "one\ntwo"}


def test_a_date_time_is_entered_as_local_input_and_sent_as_utc() -> None:
    form = form_of({"at": {"type": "string", "format": "date-time"}})
    assert "Time in UTC." in render(form).by_id("f-at--help").text
    assert accepted(form, {"f.at": "2026-11-27T10:00"}) == {"at": "2026-11-27T10:00:00Z"}
    assert accepted(form, {"f.at": "2026-11-27T10:00:05"}) == {"at": "2026-11-27T10:00:05Z"}
    assert encode_values(form, {"at": "2026-11-27T10:00:05Z"}) == {"f.at": ["2026-11-27T10:00:05"]}
    assert encode_values(form, {"at": "2026-11-27T10:00:05+02:00"}) is None  # JSON editor


def test_an_empty_optional_input_leaves_the_property_out_unless_null_is_allowed() -> None:
    form = form_of(
        {
            "note": {"type": "string"},
            "reason": {"type": ["string", "null"]},
            "size": {"type": "integer"},
        }
    )
    assert accepted(form, {"f.note": "", "f.reason": "", "f.size": ""}) == {"reason": None}


def test_an_empty_required_input_is_an_error_next_to_it() -> None:
    form = form_of({"name": {"type": "string"}}, ["name"])
    submission = post(form, {"f.name": ""})
    assert submission.errors == {"name": ["This field is required."]}
    page = render(form, submission.values, submission.errors)
    field = page.find("input", name="f.name")
    assert field["aria-invalid"] == "true"
    assert page.by_id(field["aria-describedby"]).text == "This field is required."
    assert page.by_id("f-name--error")["class"] == "field-error"


def test_numbers_have_min_max_and_step_and_parse_to_json_numbers() -> None:
    form = form_of(
        {
            "amount": {"type": "number", "minimum": 0, "maximum": 1000.5},
            "count": {"type": "integer"},
            "cents": {"type": "number", "multipleOf": 0.01},
        }
    )
    page = render(form)
    amount = page.find("input", name="f.amount")
    assert (amount["type"], amount["min"], amount["max"], amount["step"]) == (
        "number",
        "0",
        "1000.5",
        "any",
    )
    assert page.find("input", name="f.count")["step"] == "1"
    assert page.find("input", name="f.cents")["step"] == "0.01"
    payload = accepted(form, {"f.amount": "12.5", "f.count": "3", "f.cents": "0.25"})
    assert payload == {"amount": 12.5, "count": 3, "cents": 0.25}
    assert type(payload["count"]) is int
    assert type(accepted(form, {"f.amount": "7"})["amount"]) is int


def test_a_number_that_is_not_one_is_an_error_and_the_text_is_kept() -> None:
    form = form_of({"amount": {"type": "number"}, "count": {"type": "integer", "maximum": 5}})
    submission = post(form, {"f.amount": "12,5", "f.count": "2.5"})
    assert submission.errors == {
        "amount": ["Must be a number."],
        "count": ["Must be a whole number."],
    }
    assert submission.values["f.amount"] == ["12,5"]
    assert post(form, {"f.count": "9"}).errors == {"count": ["Must be at most 5."]}
    assert post(form, {"f.amount": "1e999"}).errors == {"amount": ["Must be a smaller number."]}
    assert post(form, {"f.count": "9" * 5000}).errors == {"count": ["Must be a smaller number."]}


def test_a_boolean_is_a_checkbox_and_unchecked_means_false() -> None:
    form = form_of({"urgent": {"type": "boolean", "title": "Urgent", "default": True}})
    page = render(form)
    box = page.find("input", name="f.urgent")
    assert (box["type"], box["value"], box.has("checked")) == ("checkbox", "true", True)
    assert page.label_for(box).text == "Urgent"
    assert accepted(form, {"f.urgent": "true"}) == {"urgent": True}
    assert accepted(form, {"f.urgent": "on"}) == {"urgent": True}
    assert accepted(form, {}) == {"urgent": False}


def test_a_default_prefills_and_a_description_is_linked_help() -> None:
    form = form_of({"city": {"type": "string", "default": "Lyon", "description": "Where it ships"}})
    page = render(form)
    field = page.find("input", name="f.city")
    assert field["value"] == "Lyon"
    assert page.by_id(field["aria-describedby"]).text == "Where it ships"


def test_a_read_only_field_shows_its_default_and_ignores_the_client() -> None:
    form = form_of(
        {
            "currency": {"type": "string", "readOnly": True, "default": "EUR"},
            "amount": {"type": "number"},
        }
    )
    page = render(form)
    field = page.find("input", name="f.currency")
    assert (field["value"], field.has("readonly")) == ("EUR", True)
    assert accepted(form, {"f.currency": "USD", "f.amount": "1"}) == {
        "currency": "EUR",
        "amount": 1,
    }


def test_two_forms_on_one_page_keep_their_ids_apart_with_an_id_prefix() -> None:
    schema = {"type": "object", "properties": {"note": {"type": "string"}}}
    first = render(build_form(schema, id_prefix="wait-1")).find("input", name="f.note")
    second = render(build_form(schema, id_prefix="wait-2")).find("input", name="f.note")
    assert (first["id"], second["id"]) == ("wait-1-note", "wait-2-note")


def test_form_level_errors_have_their_own_macro() -> None:
    block = render_form_errors({"": ["Too late."], "x": ["no"]}).find("div", class_="form-errors")
    assert block["role"] == "alert" and block.text == "Too late."
