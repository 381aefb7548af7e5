"""Approving in the browser: the inbox, the generated forms, outcomes in place, races,
deadlines, a phone-sized screen, live updates and accessibility."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from e2e_harness import BrowserProblems, Engine
from patience import patience
from playwright.sync_api import Locator, Page, Route, expect

PURCHASE = "workflows.purchase_approval.purchase_approval"
APPROVAL = "workflows.approval.approval_workflow"
RACE_TIMER = "workflows.approval_with_timeout.approval_with_timeout"
BUILT_IN_TIMEOUT = "workflows.approval_with_timeout.approval_with_signal_timeout"
RECORDED = "Thank you: your answer was recorded"
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
}

Login = Callable[..., None]
AxeCheck = Callable[[Page], None]


def a_purchase(item: str, amount: float) -> dict[str, object]:
    return {"item": item, "amount": amount, "requester": "li@example.com"}


def inbox_row(page: Page, eid: str) -> Locator:
    """The inbox row linking to an open wait of execution ``eid``."""
    return page.locator("#inbox-results tbody tr").filter(
        has=page.locator(f'a[href^="/executions/{eid}#wait-"]')
    )


def wait_form(page: Page, wait_id: int) -> Locator:
    return page.locator(f"article#wait-{wait_id}")


def expect_state(page: Page, state: str, timeout: float = 5) -> None:
    """Reload the execution page until it shows ``state`` (it does not refresh itself)."""
    deadline = time.monotonic() + patience(timeout)
    while page.locator(".state").inner_text().strip() != state:
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
        page.reload()
    expect(page.locator(".state")).to_have_text(state, timeout=100)


def body_fits(page: Page, width: int) -> None:
    scroll_width = page.evaluate("() => document.documentElement.scrollWidth")
    assert scroll_width <= width, f"{page.url} is {scroll_width}px wide on a {width}px screen"


# ------------------------------------------------------------------------------ every page
# First, so that anything the first page load of a session shows (the browser asks for
# /favicon.ico once) is charged to this test rather than to a feature's.
def test_every_page_is_accessible_and_free_of_console_errors(
    page: Page, login: Login, engine: Engine, axe_check: AxeCheck
) -> None:
    page.goto("/login")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    axe_check(page)

    eid = engine.start(APPROVAL, "REQ-AXE")
    wait = engine.open_wait(eid)
    login(page, "Ivy Inspector", "ivy@example.com", "audit")
    expect(inbox_row(page, eid)).to_be_visible()
    axe_check(page)

    page.goto(f"/executions/{eid}")
    expect(wait_form(page, wait.wait_id)).to_be_visible()
    axe_check(page)

    page.goto("/start")
    links = page.locator("main li a")
    expect(links).to_have_count(4)
    axe_check(page)
    for href in links.evaluate_all("links => links.map(a => a.getAttribute('href'))"):
        page.goto(href)
        expect(page.get_by_role("button", name="Start")).to_be_visible()
        axe_check(page)


# ------------------------------------------------------------------------------ approving
def test_an_approver_finds_a_purchase_in_the_inbox_and_approves_it_with_a_comment(
    page: Page, login: Login, engine: Engine, axe_check: AxeCheck
) -> None:
    eid = engine.start(PURCHASE, a_purchase("Standing desk", 640))
    wait = engine.open_wait(eid)
    login(page, "Ana Approver", "ana@example.com", "finance, managers")

    row = inbox_row(page, eid)
    expect(row).to_contain_text("Standing desk")
    expect(page.locator("#inbox-count")).to_have_text(re.compile(r"^\d+ waiting$"))
    axe_check(page)

    row.get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"/executions/{eid}#wait-{wait.wait_id}$"))
    form = wait_form(page, wait.wait_id)
    expect(form).to_contain_text("Standing desk")
    axe_check(page)

    form.locator('textarea[name="f.reason"]').fill("Within the team's desk budget.")
    form.get_by_role("button", name="Approve").click()

    outcome = wait_form(page, wait.wait_id)
    expect(outcome).to_contain_text(RECORDED)
    expect(outcome.locator("form")).to_have_count(0)
    axe_check(page)

    outcome.get_by_role("link", name="See the execution").click()
    expect_state(page, "completed")
    expect(page.locator("pre.result")).to_contain_text('"approved_by": "ana@example.com"')
    signals = page.locator("section[aria-labelledby=signals-title] tbody tr")
    expect(signals).to_have_count(1)
    expect(signals).to_contain_text("Ana Approver <ana@example.com>")
    expect(signals).to_contain_text("via web_ui")
    expect(signals).to_contain_text("Within the team's desk budget.")
    expect(page.locator("section[aria-labelledby=timeline-title]")).to_contain_text(
        "answered by Ana Approver"
    )


def test_a_rejection_without_a_reason_is_refused_until_a_reason_is_given(
    page: Page, login: Login, engine: Engine, browser_problems: BrowserProblems, axe_check: AxeCheck
) -> None:
    browser_problems.expect_status(422)  # the form with its errors comes back as 422
    eid = engine.start(PURCHASE, a_purchase("Espresso machine", 2400))
    wait = engine.open_wait(eid)
    login(page, "Ben Budget", "ben@example.com", "finance")
    page.goto(f"/executions/{eid}")

    form = wait_form(page, wait.wait_id)
    form.get_by_role("button", name="Reject").click()
    expect(form.locator(".field-error")).to_be_visible()
    expect(form.locator(".field-error").first).to_contain_text(re.compile(r"\w"))
    expect(form.get_by_role("button", name="Reject")).to_be_enabled()
    assert engine.state(eid).waiting_on, "a refused answer must leave the wait open"
    axe_check(page)  # the error is tied to its field for screen readers too

    form.locator('textarea[name="f.reason"]').fill("We have two already.")
    form.get_by_role("button", name="Reject").click()
    expect(wait_form(page, wait.wait_id)).to_contain_text(RECORDED)

    page.goto(f"/executions/{eid}")
    expect_state(page, "completed")  # a workflow that returns Result.Error still completed
    expect(page.get_by_role("heading", name="Error", exact=True)).to_be_visible()
    expect(page.locator("pre.result")).to_have_text(
        "Rejected by ben@example.com: We have two already."
    )


# ------------------------------------------------------------------------------ deadlines
@pytest.mark.parametrize(
    "workflow", [RACE_TIMER, BUILT_IN_TIMEOUT], ids=["signal-races-a-timer", "built-in-timeout"]
)
def test_an_approval_nobody_answers_in_time_times_out_and_says_so(
    page: Page, login: Login, engine: Engine, browser_problems: BrowserProblems, workflow: str
) -> None:
    browser_problems.expect_status(409)  # answering after the deadline is refused
    # The page must show the form before the deadline passes: 1.8 s on an idle machine,
    # longer on a busy one (the test waits that long for the deadline either way).
    hours = round(patience(1.8) / 3600, 6)
    login(page, "Cleo Late", "cleo@example.com")
    eid = engine.start(workflow, "REQ-LATE", hours=hours)
    wait = engine.open_wait(eid)
    page.goto(f"/executions/{eid}")
    form = wait_form(page, wait.wait_id)
    expect(form).to_contain_text(f"Escalated if nobody decides within {hours} hours")

    engine.finished(eid)
    form.get_by_role("button", name="Approve").click()
    expect(wait_form(page, wait.wait_id)).to_contain_text("can no longer be answered")

    page.goto(f"/executions/{eid}")
    expect(page.locator(".state")).to_have_text("completed")
    expect(page.get_by_role("heading", name="Error", exact=True)).to_be_visible()
    expect(page.locator("pre.result")).to_have_text(f"Approval timed out after {hours} hours")
    expect(page.locator(f"article#wait-{wait.wait_id} form")).to_have_count(0)


@pytest.mark.parametrize(
    "workflow", [RACE_TIMER, BUILT_IN_TIMEOUT], ids=["signal-races-a-timer", "built-in-timeout"]
)
def test_an_approval_answered_before_its_deadline_completes(
    page: Page, login: Login, engine: Engine, workflow: str
) -> None:
    eid = engine.start(workflow, "REQ-IN-TIME", hours=1)
    wait = engine.open_wait(eid)
    login(page, "Dana Quick", "dana@example.com")
    page.goto(f"/executions/{eid}")

    wait_form(page, wait.wait_id).get_by_role("button", name="Approve").click()
    expect(wait_form(page, wait.wait_id)).to_contain_text(RECORDED)

    page.goto(f"/executions/{eid}")
    expect_state(page, "completed")
    expect(page.locator("pre.result")).to_contain_text('"approver": "dana@example.com"')
    expect(page.locator("pre.result")).to_contain_text('"approved": true')


# ------------------------------------------------------------------------------ two people
def test_two_approvers_answering_the_same_wait_at_once_one_wins_the_other_is_told(
    new_person: Callable[..., Page], login: Login, engine: Engine, browser_problems: BrowserProblems
) -> None:
    browser_problems.expect_status(409)  # the loser's answer is refused
    eid = engine.start(PURCHASE, a_purchase("Conference tickets", 900))
    wait = engine.open_wait(eid)
    people = {"Erin Early": new_person(), "Finn Fast": new_person()}
    held: list[Route] = []
    for (name, page), email in zip(
        people.items(), ("erin@example.com", "finn@example.com"), strict=True
    ):
        login(page, name, email)
        page.goto(f"/executions/{eid}")
        page.route(f"**/executions/{eid}/waits/{wait.wait_id}", lambda route: held.append(route))

    for page in people.values():
        wait_form(page, wait.wait_id).get_by_role("button", name="Approve").click()
    # Both answers are held in their browsers until both are on their way; then they go
    # to the server together.
    first = next(iter(people.values()))
    while len(held) < 2:
        first.wait_for_timeout(10)
    for route in held:
        route.continue_()

    outcomes = {name: wait_form(page, wait.wait_id) for name, page in people.items()}
    for outcome in outcomes.values():
        expect(outcome.locator("form")).to_have_count(0)
        expect(outcome).to_contain_text(re.compile(f"{RECORDED}|Already answered by"))
    winners = [name for name, outcome in outcomes.items() if RECORDED in outcome.inner_text()]
    assert len(winners) == 1, f"exactly one answer may be recorded, got {winners}"
    [loser] = [name for name in people if name not in winners]
    expect(outcomes[loser]).to_contain_text(
        re.compile(rf"Already answered by {winners[0]} at \d{{4}}-\d\d-\d\d \d\d:\d\d")
    )

    state = engine.finished(eid)
    assert state.result is not None and state.result.value["approved_by"] == (
        "erin@example.com" if winners == ["Erin Early"] else "finn@example.com"
    )
    assert [s.sender["name"] for s in engine.signals(eid) if s.sender] == winners


# ------------------------------------------------------------------------------ a phone
def test_on_a_phone_the_inbox_and_a_form_fit_the_screen_and_work(
    new_person: Callable[..., Page], login: Login, engine: Engine
) -> None:
    eid = engine.start(PURCHASE, a_purchase("Replacement phone for the on-call rotation", 780))
    wait = engine.open_wait(eid)
    page = new_person(**PHONE)
    login(page, "Gus Mobile", "gus@example.com", "on-call")

    row = inbox_row(page, eid)
    expect(row).to_be_visible()
    body_fits(page, 390)
    filter_button = page.get_by_role("button", name="Filter").bounding_box()
    assert filter_button is not None and filter_button["height"] < 80, (
        f"the inbox's Filter button is {filter_button} on a phone: an ordinary button expected"
    )

    row.get_by_role("link").tap()
    form = wait_form(page, wait.wait_id)
    expect(form).to_be_visible()
    body_fits(page, 390)
    form.locator('textarea[name="f.reason"]').fill("Approved from my phone.")
    approve = form.get_by_role("button", name="Approve")
    approve.scroll_into_view_if_needed()
    box = approve.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    approve.tap()
    expect(wait_form(page, wait.wait_id)).to_contain_text(RECORDED)
    body_fits(page, 390)


# ------------------------------------------------------------------------------ live inbox
def test_the_inbox_shows_waits_opening_and_closing_without_a_reload(
    page: Page, login: Login, engine: Engine
) -> None:
    login(page, "Hana Watcher", "hana@example.com")
    page.evaluate("() => { window.stillTheSamePage = true; }")
    count = page.locator("#inbox-count")

    eid = engine.start(APPROVAL, "REQ-LIVE")
    wait = engine.open_wait(eid)
    row = inbox_row(page, eid)
    expect(row).to_be_visible(timeout=patience(2) * 1000)
    expect(row).to_contain_text("REQ-LIVE")
    rows = page.locator("#inbox-results tbody tr").count()
    expect(count).to_have_text(f"{rows} waiting")

    engine.send(
        wait,
        {"approved": True, "approver": "ops@example.com", "timestamp": "2025-01-01T00:00:00Z"},
        sender={"name": "Ops Bot", "email": "ops@example.com"},
    )
    expect(row).to_have_count(0, timeout=patience(2) * 1000)
    expect(count).to_have_text(f"{rows - 1} waiting")
    assert page.evaluate("() => window.stillTheSamePage === true"), "the inbox was reloaded"


def test_a_started_request_waits_in_an_approvers_inbox_not_the_requesters(
    page: Page, login: Login, engine: Engine, new_person: Callable[..., Page]
) -> None:
    login(page, "Jo Requester", "jo@example.com")
    page.goto(f"/start/{APPROVAL}")
    page.locator('[name="f.request_id"]').fill("REQ-FROM-THE-BROWSER")
    page.get_by_role("button", name="Start").click()

    expect(page).to_have_url(re.compile(r"/executions/[0-9a-f-]{36}$"))
    eid = page.url.rsplit("/", 1)[1]
    engine.open_wait(eid)
    expect(page.locator("main")).to_contain_text("by Jo Requester")
    page.goto("/")  # no self-approval: the requester's own request is not in her inbox
    expect(page.locator("#inbox-results")).not_to_contain_text("REQ-FROM-THE-BROWSER")
    approver = new_person()
    login(approver, "Ann Approver", "ann@example.com")
    approver.goto("/")
    expect(inbox_row(approver, eid)).to_contain_text("REQ-FROM-THE-BROWSER")


@pytest.mark.parametrize("path", ["/", "/executions/{eid}", "/start", f"/start/{APPROVAL}"])
def test_a_person_can_log_out_from_any_page(
    page: Page, login: Login, engine: Engine, path: str
) -> None:
    if "{eid}" in path:
        path = path.format(eid=engine.start(APPROVAL, "REQ-LOGOUT"))
    login(page, "Kim Leaving", "kim@example.com")
    page.goto(path)
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
