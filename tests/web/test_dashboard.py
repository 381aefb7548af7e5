"""The approvals dashboard as an approver uses it: log in, find a wait, answer it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from bs4 import Tag
from patience import patience
from web_helpers import Browser, open_wait, parse

from app.engine import Stent, WaitInfo
from app.web.state import Desk
from app.web.waits import WaitCache
from workflows.approval import approval_workflow


def executor_of(app: Any) -> Stent:
    desk: Desk = app.state.desk
    return desk.executor


async def test_every_page_but_login_asks_for_a_user(anonymous: Browser):
    response = await anonymous.get("/executions/x?y=1")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fexecutions%2Fx%3Fy%3D1"
    htmx = await anonymous.get("/", headers={"HX-Request": "true"})
    assert htmx.headers["HX-Redirect"].startswith("/login")
    assert (await anonymous.get("/login")).status_code == 200


async def test_login_sets_a_signed_httponly_lax_session_cookie(anonymous: Browser):
    response = await anonymous.login("Ann", "ann@example.com", "finance")
    cookie = response.headers["set-cookie"].lower()
    assert "stent_desk_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert (await anonymous.get("/")).status_code == 200


async def test_login_only_returns_to_local_paths(anonymous: Browser):
    soup = await anonymous.page("/login?next=//evil.example/steal")
    assert soup.find("input", attrs={"name": "next"})["value"] == "/"


async def test_a_tampered_session_cookie_is_logged_out(ann: Browser):
    cookie = ann.client.cookies["stent_desk_session"]
    ann.client.cookies.clear()
    ann.client.cookies.set("stent_desk_session", cookie[:-4] + "AAAA")
    assert (await ann.get("/")).status_code == 303


async def test_the_inbox_lists_open_waits_with_a_count(app: Any, ann: Browser):
    executor = executor_of(app)
    # The inbox lists waits by when they opened. Two executions run side by side (on
    # PostgreSQL truly concurrently), so the second may open its wait first: let the
    # first wait open before starting the second.
    first = await executor.dispatch(approval_workflow, "req-1")
    await open_wait(executor, first, "approval")
    second = await executor.dispatch(approval_workflow, "req-2")
    await open_wait(executor, second, "approval")
    soup = await ann.page("/")
    assert soup.find(id="inbox-count").get_text(strip=True) == "2 waiting"
    rows = soup.select("#inbox-results tbody tr")
    assert [r.find("a").get_text(strip=True) for r in rows] == [
        "Approve request req-1",
        "Approve request req-2",
    ]
    cells = [c.get_text(strip=True) for c in rows[0].find_all("td")]
    assert cells[1] == "Approval workflow" and cells[2] == "approval"
    newest = await ann.page("/?order=newest")
    assert newest.select("#inbox-results tbody tr a")[0].get_text(strip=True).endswith("req-2")


async def test_the_inbox_filters_and_its_fragment_is_the_results_block(app: Any, ann: Browser):
    executor = executor_of(app)
    eid = await executor.dispatch(approval_workflow, "req-9")
    await open_wait(executor, eid, "approval")
    none = await ann.page("/?name=payment")
    assert none.find(id="inbox-count").get_text(strip=True) == "0 waiting"
    by_id = await ann.page(f"/?q={eid[:6]}")
    assert by_id.find(id="inbox-count").get_text(strip=True) == "1 waiting"
    fragment = await ann.get(
        "/?name=approval", headers={"HX-Request": "true", "HX-Target": "inbox-results"}
    )
    soup = parse(fragment)
    assert soup.find("html") is None and soup.find("section")["id"] == "inbox-results"
    assert soup.find("section")["hx-get"] == "/?name=approval"


async def test_the_inbox_pages_through_many_waits(app: Any, ann: Browser):
    executor = executor_of(app)
    ids = [await executor.dispatch(approval_workflow, f"r{n}") for n in range(55)]
    for eid in ids:
        await open_wait(executor, eid, "approval")
    first = await ann.page("/")
    assert len(first.select("#inbox-results tbody tr")) == 50
    more = first.find("a", rel="next")
    second = await ann.page(str(more["href"]))
    assert len(second.select("#inbox-results tbody tr")) == 5


async def _approval(app: Any, request_id: str = "req-1") -> tuple[Stent, str, int]:
    executor = executor_of(app)
    eid = await executor.dispatch(approval_workflow, request_id)
    return executor, eid, await open_wait(executor, eid, "approval")


async def test_approving_records_the_approver_from_the_session(app: Any, ann: Browser):
    executor, eid, wait_id = await _approval(app)
    response = await ann.submit(
        eid, wait_id, {"f.approved": "true", "f.reason": "", "f.approver": "mallory@evil.example"}
    )
    assert response.status_code == 200, response.text
    assert "your answer was recorded" in parse(response).get_text()
    result = await executor.wait_for(eid, timeout=patience(10))
    assert result.unwrap()["approved_by"] == "ann@example.com"
    [signal] = await executor.signals_of(eid)
    assert signal.payload["approver"] == "ann@example.com"
    assert signal.payload["timestamp"].endswith("Z")
    sender = signal.sender
    assert sender is not None
    assert (sender["email"], sender["name"], sender["groups"]) == (
        "ann@example.com",
        "Ann Approver",
        ["finance", "managers"],
    )
    assert sender["source"] == "web_ui" and sender["auth_method"] == "development"
    assert sender["ip_address"] == "203.0.113.7" and sender["user_agent"] == "pytest-browser/1.0"
    assert sender["subject"].startswith("dev:")


async def test_rejecting_without_a_reason_shows_the_field_error(app: Any, ann: Browser):
    executor, eid, wait_id = await _approval(app)
    response = await ann.submit(eid, wait_id, {"f.approved": "false", "f.reason": ""})
    assert response.status_code == 422
    soup = parse(response)
    assert soup.find(class_="field-error") is not None
    assert await executor.signals_of(eid) == []
    response = await ann.submit(eid, wait_id, {"f.approved": "false", "f.reason": "Over budget"})
    assert response.status_code == 200
    result = await executor.wait_for(eid, timeout=patience(10))
    assert result.error == "Rejected: Over budget"


async def test_a_second_approver_hears_who_answered_first(app: Any, ann: Browser, bob: Browser):
    executor, eid, wait_id = await _approval(app)
    _, ann_fields = await ann.wait_form(eid, wait_id)
    _, bob_fields = await bob.wait_form(eid, wait_id)
    headers = {"HX-Request": "true"}
    url = f"/executions/{eid}/waits/{wait_id}"
    first, second = await asyncio.gather(
        ann.client.post(url, data=ann_fields | {"f.approved": "true"}, headers=headers),
        bob.client.post(url, data=bob_fields | {"f.approved": "true"}, headers=headers),
    )
    statuses = sorted([first.status_code, second.status_code])
    assert statuses == [200, 409]
    loser = first if first.status_code == 409 else second
    winner_name = "Ann Approver" if loser is second else "Bob Builder"
    assert f"Already answered by {winner_name}" in parse(loser).get_text()
    assert len(await executor.signals_of(eid)) == 1


async def test_a_double_submit_is_one_signal(app: Any, ann: Browser):
    executor, eid, wait_id = await _approval(app)
    action, fields = await ann.wait_form(eid, wait_id)
    headers = {"HX-Request": "true"}
    one = await ann.client.post(action, data=fields | {"f.approved": "true"}, headers=headers)
    two = await ann.client.post(action, data=fields | {"f.approved": "true"}, headers=headers)
    assert one.status_code == two.status_code == 200
    assert "already been received" in parse(two).get_text()
    assert len(await executor.signals_of(eid)) == 1


async def test_answering_a_wait_the_page_showed_reads_nothing_before_the_write(
    app: Any, ann: Browser, monkeypatch: pytest.MonkeyPatch
):
    executor, eid, wait_id = await _approval(app)
    action, fields = await ann.wait_form(eid, wait_id)

    async def no_read(execution_id: str) -> None:
        raise AssertionError("the answer read the execution")

    monkeypatch.setattr(executor, "state_of", no_read)
    response = await ann.client.post(
        action, data=fields | {"f.approved": "true"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200 and "your answer was recorded" in response.text
    assert f'href="/executions/{eid}"' in response.text
    assert app.state.desk.waits.get(eid, wait_id) is None  # answered: forgotten


async def test_a_wait_the_page_did_not_show_is_read_then_answered(app: Any, ann: Browser):
    executor, eid, wait_id = await _approval(app)
    action, fields = await ann.wait_form(eid, wait_id)
    app.state.desk.waits.forget(eid, wait_id)  # as after a restart, or in another process
    response = await ann.client.post(
        action, data=fields | {"f.approved": "true"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200 and "your answer was recorded" in response.text
    assert len(await executor.signals_of(eid)) == 1


async def test_a_resubmit_with_another_timestamp_is_still_the_first_answer(
    app: Any, ann: Browser, monkeypatch: pytest.MonkeyPatch
):
    executor, eid, wait_id = await _approval(app)
    action, fields = await ann.wait_form(eid, wait_id)
    shown = app.state.desk.waits.get(eid, wait_id)
    headers = {"HX-Request": "true"}
    one = await ann.client.post(action, data=fields | {"f.approved": "true"}, headers=headers)
    # a double-click whose second post started before the first one's answer was stored,
    # a second later: the same idempotency key with another timestamp in the payload
    app.state.desk.waits.keep(shown)
    monkeypatch.setattr("app.web.executions.utc_now_iso", lambda: "2099-01-01T00:00:00Z")
    two = await ann.client.post(action, data=fields | {"f.approved": "true"}, headers=headers)
    assert one.status_code == two.status_code == 200, two.text
    assert "already been received" in parse(two).get_text()
    assert len(await executor.signals_of(eid)) == 1


async def test_a_wait_closed_since_the_page_was_shown_is_refused(app: Any, ann: Browser):
    executor, eid, wait_id = await _approval(app)
    action, fields = await ann.wait_form(eid, wait_id)
    assert await executor.cancel(eid)
    response = await ann.client.post(
        action, data=fields | {"f.approved": "true"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 409
    assert "can no longer be answered" in parse(response).get_text()
    assert await executor.signals_of(eid) == []
    assert app.state.desk.waits.get(eid, wait_id) is None


async def test_a_form_without_the_csrf_token_is_refused(app: Any, ann: Browser):
    executor, eid, wait_id = await _approval(app)
    action, fields = await ann.wait_form(eid, wait_id)
    fields.pop("csrf_token")
    response = await ann.client.post(action, data=fields | {"f.approved": "true"})
    assert response.status_code == 403
    assert await executor.signals_of(eid) == []


async def test_without_javascript_the_answer_redirects_to_the_execution(app: Any, ann: Browser):
    executor, eid, wait_id = await _approval(app)
    response = await ann.submit(eid, wait_id, {"f.approved": "true"}, htmx=False)
    assert response.status_code == 303 and response.headers["location"] == f"/executions/{eid}"
    page = await ann.page(f"/executions/{eid}")
    assert "your answer was recorded" in page.get_text()
    await executor.wait_for(eid, timeout=patience(10))
    page = await ann.page(f"/executions/{eid}")
    assert "answered by Ann Approver" in page.get_text()
    assert page.find(class_="state-completed") is not None


async def test_the_execution_page_shows_inputs_timeline_and_open_waits(app: Any, ann: Browser):
    _, eid, wait_id = await _approval(app, "req-77")
    page = await ann.page(f"/executions/{eid}")
    assert page.find(id=f"wait-{wait_id}") is not None
    assert "req-77" in page.find(id="inputs-title").find_next("pre").get_text()
    timeline = page.find(id="timeline-title").find_next("tbody").find_all("tr")
    assert [row.find_all("td")[1].get_text(" ", strip=True) for row in timeline] == [
        "activity workflows.activities.notify_approvers",
        "wait approval Approve request req-77",
    ]


async def test_unknown_executions_get_a_clear_404_page(ann: Browser):
    response = await ann.get("/executions/nope")
    assert response.status_code == 404
    assert "No such execution" in parse(response).get_text()


async def test_every_response_carries_a_strict_content_security_policy(ann: Browser):
    response = await ann.get("/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert response.headers["x-frame-options"] == "DENY"


async def test_a_requester_starts_a_workflow_from_its_signature(app: Any, ann: Browser):
    soup = await ann.page("/start")
    link = soup.find("a", href="/start/desk_workflows.expense_claim")
    assert isinstance(link, Tag)
    form = (await ann.page(str(link["href"]))).find("form", action=link["href"])
    assert form.find("input", attrs={"name": "f.amount"})["type"] == "number"
    assert form.find("input", attrs={"name": "f.urgent"})["type"] == "checkbox"
    token = form.find("input", attrs={"name": "csrf_token"})["value"]
    response = await ann.client.post(
        str(link["href"]), data={"csrf_token": token, "f.title": "Train to Lyon", "f.amount": "120"}
    )
    assert response.status_code == 303, response.text
    eid = response.headers["location"].rsplit("/", 1)[-1]
    state = await executor_of(app).state_of(eid)
    assert state.kwargs == {"title": "Train to Lyon", "amount": 120, "urgent": False}
    assert state.initiator is not None and state.initiator["email"] == "ann@example.com"


@pytest.mark.parametrize("url", ["/", "/start", "/login"])
async def test_pages_render_for_a_logged_in_user(ann: Browser, url: str):
    response = await ann.get(url)
    assert response.status_code == 200 and parse(response).find("main") is not None


def test_the_wait_cache_keeps_the_most_recently_shown_waits() -> None:
    cache = WaitCache(size=2)
    waits = [WaitInfo(f"e{n}", "wf", n, "approval", None, None, None, 0.0) for n in range(3)]
    for wait in (waits[0], waits[1], waits[0]):  # e0 shown again: the most recent
        cache.keep(wait)
    cache.keep(waits[2])
    assert len(cache) == 2 and cache.get("e1", 1) is None
    assert cache.get("e0", 0) is waits[0] and cache.get("e2", 2) is waits[2]
    cache.forget("e0", 0)
    assert cache.get("e0", 0) is None
