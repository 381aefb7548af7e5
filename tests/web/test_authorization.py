"""Who may answer what: the rule, and the form path that enforces it."""

from __future__ import annotations

from typing import Any

import pytest
from web_helpers import Browser, open_wait, parse

from app.engine import WaitInfo
from app.settings import Settings
from app.web.authorization import inbox_filters, may_answer, principals_of
from app.web.identity import User
from app.web.state import Desk

SETTINGS = Settings(admin_group="admins", auditor_group="auditors")


def person(email: str, *groups: str) -> User:
    return User(f"sub-{email}", email, email.split("@")[0].title(), groups, "oidc")


def wait(
    approvers: tuple[str, ...] | None = None,
    allow_self: bool = False,
    initiator: str | None = "iris@example.com",
) -> WaitInfo:
    return WaitInfo(
        "e1",
        "wf",
        3,
        "approval",
        None,
        None,
        None,
        0.0,
        None,
        None,
        approvers,
        allow_self,
        initiator,
    )


FINANCE = ("group:finance", "user:cfo@example.com")


@pytest.mark.parametrize(
    ("user", "the_wait", "allowed", "reason"),
    [
        (person("fiona@example.com", "finance"), wait(FINANCE), True, "allowed"),
        (person("CFO@Example.com"), wait(FINANCE), True, "allowed"),
        (person("eddie@example.com", "engineering"), wait(FINANCE), False, "approvers"),
        (person("eddie@example.com", "engineering"), wait(None), True, "allowed"),
        (person("adam@example.com", "admins"), wait(FINANCE), True, "allowed"),
        (person("audrey@example.com", "auditors", "finance"), wait(FINANCE), False, "auditors"),
        (person("audrey@example.com", "auditors"), wait(None), False, "auditors"),
        (person("iris@example.com", "finance"), wait(FINANCE), False, "initiator"),
        (person("Iris@Example.com", "admins"), wait(None), False, "initiator"),
        (person("iris@example.com", "finance"), wait(FINANCE, allow_self=True), True, "allowed"),
        (person("adam@example.com", "admins", "auditors"), wait(FINANCE), True, "allowed"),
        (None, wait(None), False, "logged in"),
    ],
)
def test_the_rule_covers_every_role_and_list_form(
    user: User | None, the_wait: WaitInfo, allowed: bool, reason: str
) -> None:
    decision = may_answer(user, the_wait, SETTINGS)
    assert decision.allowed is allowed and reason in decision.reason


def test_a_user_acts_as_their_email_and_groups() -> None:
    assert principals_of(person("Fiona@Example.com", "finance", "emea")) == (
        "user:fiona@example.com",
        "group:finance",
        "group:emea",
    )


def test_the_inbox_asks_for_what_each_role_may_answer() -> None:
    assert inbox_filters(person("a@x.org", "admins"), SETTINGS) == {
        "principals": None,
        "not_initiated_by": "a@x.org",
    }
    assert inbox_filters(person("au@x.org", "auditors"), SETTINGS) is None
    assert inbox_filters(person("f@x.org", "finance"), SETTINGS) == {
        "principals": ("user:f@x.org", "group:finance"),
        "not_initiated_by": "f@x.org",
    }


async def _restricted_wait(app: Any) -> tuple[Desk, str, int]:
    desk: Desk = app.state.desk
    eid = await desk.executor.start_execution(
        "desk_workflows.finance_approval",
        args=["laptop"],
        initiator={"email": "iris@example.com", "name": "Iris"},
    )
    return desk, eid, await open_wait(desk.executor, eid, "decision")


@pytest.mark.parametrize(
    ("who", "groups", "status", "reason"),
    [
        ("fiona@example.com", "finance", 200, None),
        ("eddie@example.com", "engineering", 403, "not among the wait's approvers"),
        ("audrey@example.com", "stent-auditors", 403, "auditors read but do not answer"),
        ("iris@example.com", "finance", 403, "the initiator may not answer their own request"),
    ],
)
async def test_the_form_path_lets_only_allowed_users_answer(
    app: Any, anonymous: Browser, who: str, groups: str, status: int, reason: str | None
) -> None:
    desk, eid, wait_id = await _restricted_wait(app)
    await anonymous.login(who.split("@")[0].title(), who, groups)
    page = await anonymous.page(f"/executions/{eid}")
    form = page.find("form", action=f"/executions/{eid}/waits/{wait_id}")
    assert (form is not None) is (status == 200)
    token = page.find("input", attrs={"name": "csrf_token"})["value"]
    response = await anonymous.client.post(
        f"/executions/{eid}/waits/{wait_id}",
        data={"csrf_token": token, "f.approved": "true"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == status, response.text[:300]
    signals = await desk.executor.signals_of(eid)
    refusals = await desk.executor.refusals_of(eid)
    if status == 200:
        assert len(signals) == 1 and refusals == []
        return
    assert signals == [] and len(refusals) == 1
    refusal = refusals[0]
    assert (refusal.reason, refusal.path, refusal.wait_id) == (reason, "web_form", wait_id)
    assert refusal.sender is not None and refusal.sender["email"] == who


async def test_an_anonymous_post_answers_nothing(app: Any, anonymous: Browser) -> None:
    desk, eid, wait_id = await _restricted_wait(app)
    response = await anonymous.client.post(
        f"/executions/{eid}/waits/{wait_id}", data={"f.approved": "true"}
    )
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert await desk.executor.signals_of(eid) == []


async def test_the_inbox_shows_each_user_only_what_they_may_answer(
    app: Any, anonymous: Browser
) -> None:
    await _restricted_wait(app)
    await anonymous.login("Fiona", "fiona@example.com", "finance")
    assert parse(await anonymous.get("/")).find(id="inbox-count").get_text() == "1 waiting"
    await anonymous.login("Eddie", "eddie@example.com", "engineering")
    assert parse(await anonymous.get("/")).find(id="inbox-count").get_text() == "0 waiting"
    await anonymous.login("Iris", "iris@example.com", "finance")
    assert parse(await anonymous.get("/")).find(id="inbox-count").get_text() == "0 waiting"


async def test_auditors_see_refused_attempts_on_the_execution_page(
    app: Any, anonymous: Browser
) -> None:
    _, eid, wait_id = await _restricted_wait(app)
    await anonymous.login("Eddie", "eddie@example.com", "engineering")
    page = await anonymous.page(f"/executions/{eid}")
    token = page.find("input", attrs={"name": "csrf_token"})["value"]
    await anonymous.client.post(
        f"/executions/{eid}/waits/{wait_id}", data={"csrf_token": token, "f.approved": "true"}
    )
    await anonymous.login("Audrey", "audrey@example.com", "stent-auditors")
    page = await anonymous.page(f"/executions/{eid}")
    rows = page.find(id="refusals-title").find_next("tbody").find_all("tr")
    assert "eddie@example.com" in rows[0].get_text() and "approvers" in rows[0].get_text()
