"""The approve/reject shape, oneOf choices, conditional requirements, and the values the
server fills in itself."""

from __future__ import annotations

from typing import Any

from form_helpers import accepted, post
from html_helpers import assert_well_formed, render

from app.web.forms import build_form, encode_values
from workflows.approval import APPROVAL_SCHEMA
from workflows.multi_step_approval import STAGE_SCHEMA

SERVER = {"approver": "ann@example.com", "timestamp": "2026-11-27T10:00:00Z"}
CHOICE: dict[str, Any] = {
    "type": "object",
    "title": "Decision",
    "oneOf": [
        {
            "title": "Approve",
            "properties": {"decision": {"const": "approve"}, "comment": {"type": "string"}},
            "required": ["decision"],
        },
        {
            "title": "Reject",
            "properties": {
                "decision": {"const": "reject"},
                "reason": {"type": "string", "minLength": 3},
                "comment": {"type": "integer"},
            },
            "required": ["decision", "reason"],
        },
    ],
}


def test_an_approval_schema_is_a_comment_box_and_two_buttons() -> None:
    form = build_form(APPROVAL_SCHEMA)
    assert form.kind == "approve_reject"
    page = render(form, macro="render_approve_reject")
    buttons = page.find_all("button", name="f.approved")
    assert [(b["type"], b["value"], b.text) for b in buttons] == [
        ("submit", "true", "Approve"),
        ("submit", "false", "Reject"),
    ]
    reason = page.find("textarea", name="f.reason")
    assert page.label_for(reason).text == "Reason"
    assert not page.find_all("input", name="f.approver")  # the server fills it
    assert not page.find_all("input", name="f.timestamp")
    assert_well_formed(page)
    assert render(form).find_all("button", name="f.approved")  # render_fields shows it too


def test_approving_sends_the_server_values_over_a_forged_approver() -> None:
    submission = post(
        build_form(APPROVAL_SCHEMA),
        {"f.approved": "true", "f.approver": "mallory", "f.timestamp": "1999"},
        SERVER,
    )
    assert submission.valid
    assert submission.payload == {"approved": True, "reason": None, **SERVER}


def test_the_server_wins_in_the_json_editor_too() -> None:
    text = '{"approved": true, "approver": "mallory", "timestamp": "1999"}'
    submission = post(build_form(APPROVAL_SCHEMA), {"_mode": "json", "_json": text}, SERVER)
    assert submission.payload == {"approved": True, **SERVER}


def test_rejecting_needs_a_reason_and_says_so_in_the_help_text() -> None:
    form = build_form(APPROVAL_SCHEMA)
    page = render(form)
    assert "Required when Approve is false." in page.by_id("f-reason--help").text
    submission = post(form, {"f.approved": "false", "f.reason": ""}, SERVER)
    assert submission.errors == {"reason": ["This field is required."]}
    assert submission.values == {"f.approved": ["false"], "f.reason": [""]}
    again = render(form, submission.values, submission.errors)
    assert again.find("textarea", name="f.reason")["aria-invalid"] == "true"
    assert post(form, {"f.approved": "false", "f.reason": "Too dear"}, SERVER).payload == {
        "approved": False,
        "reason": "Too dear",
        **SERVER,
    }


def test_no_button_pressed_is_not_a_rejection() -> None:
    submission = post(build_form(APPROVAL_SCHEMA), {"f.reason": "hm"}, SERVER)
    assert submission.errors == {"approved": ["This field is required."]}
    page = render(build_form(APPROVAL_SCHEMA), submission.values, submission.errors)
    assert page.by_id("f-approved--error").text == "This field is required."


def test_a_decision_with_other_fields_is_a_normal_form_with_an_if_then_hint() -> None:
    form = build_form(STAGE_SCHEMA)
    assert form.kind == "approve_reject"  # reviewer is an optional text too
    stage = {**STAGE_SCHEMA, "required": ["approved", "reviewer"]}
    form = build_form(stage)
    assert form.kind == "fields"
    page = render(form)
    assert page.find("input", name="f.approved")["type"] == "checkbox"
    assert "Required when Approve is false." in page.by_id("f-reason--help").text
    assert post(form, {"f.reviewer": "bo", "f.reason": ""}).errors == {
        "reason": ["This field is required."]
    }
    assert accepted(form, {"f.reviewer": "bo", "f.approved": "true"}) == {
        "approved": True,
        "reviewer": "bo",
        "reason": None,
    }


def test_a_one_of_with_a_const_property_is_a_choice_of_fieldsets() -> None:
    form = build_form(CHOICE, server_fields=frozenset())
    assert form.kind == "fields"
    page = render(form)
    radios = page.find_all("input", name="f.decision")
    assert [(r["type"], r["value"]) for r in radios] == [("radio", "approve"), ("radio", "reject")]
    assert [page.label_for(r).text for r in radios] == ["Approve", "Reject"]
    variants = page.find_all("fieldset", class_="form-variant")
    assert [(v["data-variant"], v.find("legend").text) for v in variants] == [
        ("approve", "Approve"),
        ("reject", "Reject"),
    ]
    assert not any(e.has("onclick") or e.has("onchange") for e in page.walk())
    assert_well_formed(page)


def test_only_the_chosen_variant_is_read() -> None:
    form = build_form(CHOICE, server_fields=frozenset())
    names = [e["name"] for e in render(form).inputs()]
    comment_approve, comment_reject = [n for n in names if n.endswith(".comment")]
    data = {
        "f.decision": "reject",
        "f.~v1.reason": "No budget",
        comment_approve: "ignored",
        comment_reject: "7",
    }
    assert accepted(form, data) == {"decision": "reject", "reason": "No budget", "comment": 7}
    assert accepted(form, {"f.decision": "approve", comment_approve: "fine"}) == {
        "decision": "approve",
        "comment": "fine",
    }


def test_errors_of_the_chosen_variant_show_next_to_its_fields() -> None:
    form = build_form(CHOICE, server_fields=frozenset())
    submission = post(form, {"f.decision": "reject", "f.~v1.reason": "no"})
    assert submission.errors == {"reason": ["Must be at least 3 characters long."]}
    page = render(form, submission.values, submission.errors)
    reason = page.find("input", name="f.~v1.reason")
    assert reason["aria-invalid"] == "true"
    assert page.by_id(reason["aria-describedby"]).text == "Must be at least 3 characters long."


def test_no_variant_chosen_is_an_error_at_the_radios() -> None:
    form = build_form(CHOICE, server_fields=frozenset())
    submission = post(form, {})
    assert submission.errors == {"decision": ["Choose one of the options."]}
    page = render(form, {"f.x": [""]}, submission.errors)
    assert page.find_all("input", name="f.decision")[0]["aria-invalid"] == "true"


def test_a_choice_round_trips_through_encode_values() -> None:
    form = build_form(CHOICE, server_fields=frozenset())
    payload = {"decision": "reject", "reason": "No budget"}
    values = encode_values(form, payload)
    assert values == {"f.decision": ["reject"], "f.~v1.reason": ["No budget"]}
    assert accepted(form, values) == payload
