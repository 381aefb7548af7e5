"""Approving after single sign-on in Chromium: the provider's people and the rule.

fiona (finance) approves a purchase whose wait names ``group:finance``; eddie
(engineering) does not see it and is refused when he posts an answer directly; iris
(finance) started it and may not approve it herself; logging out; a tampered session
cookie. A server of its own, with single sign-on and `sso_workflows` loaded beside the
usual modules; its port is chosen before the provider starts (see `test_sso_login.py`).
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import sso_workflows
from e2e_harness import WORKFLOW_MODULES, Engine, Server, serving
from oidc_idp import Idp, free_port, running_idp
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import create_engine

from app.web.tables import metadata

E2E_DIR = sso_workflows.__file__.rsplit("/", 1)[0]
FINANCE_PURCHASE = f"{sso_workflows.__name__}.finance_purchase"
SESSION_COOKIE = "stent_desk_session"
RECORDED = "Thank you: your answer was recorded"
IRIS = {"email": "iris@example.com", "name": "Iris"}


@dataclass(frozen=True)
class SsoDesk:
    server: Server
    idp: Idp
    engine: Engine

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def sso_desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SsoDesk]:
    tmp = tmp_path_factory.mktemp("sso-approvals")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running_idp(tmp, [f"{url}/auth/callback"], [f"{url}/login"]) as idp:
        settings = {
            "STENT_OIDC_ISSUER": idp.issuer,
            "STENT_OIDC_CLIENT_ID": idp.client_id,
            "STENT_OIDC_CLIENT_SECRET": idp.client_secret,
            "STENT_ALLOWED_EMAIL_DOMAINS": "example.com",
            "STENT_WORKFLOW_MODULES": ",".join((*WORKFLOW_MODULES, sso_workflows.__name__)),
            "PYTHONPATH": E2E_DIR,
        }
        with serving(tmp, port, settings) as server:
            tables = create_engine(server.database_url.replace("+aiosqlite", ""))
            metadata.create_all(tables)  # the users table, until alembic migrates it
            tables.dispose()
            engine = Engine(server.database_url)
            try:
                yield SsoDesk(server, idp, engine)
            finally:
                engine.close()


@pytest.fixture(autouse=True)
def sso_server_log_stays_clean(sso_desk: SsoDesk) -> Iterator[None]:
    offset = sso_desk.server.log.stat().st_size
    yield
    errors = sso_desk.server.errors_since(offset)
    if errors:
        pytest.fail(
            f"the server logged errors during this test (full log: "
            f"{sso_desk.server.log}):\n  " + "\n  ".join(errors),
            pytrace=False,
        )


def sso_login(page: Page, desk: SsoDesk, login: str) -> None:
    """Log in as ``login`` through the provider's own login and consent pages."""
    page.goto(f"{desk.url}/login")
    page.get_by_role("link", name="Log in with single sign-on").click()
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any password")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(f"{desk.url}/")
    expect(page.get_by_role("heading", name="Inbox", level=1)).to_be_visible()


def start_purchase(desk: SsoDesk, item: str) -> tuple[str, int]:
    """A finance-only purchase started by iris; its execution id and open wait's id."""
    eid = desk.engine.start(
        FINANCE_PURCHASE, {"item": item, "amount": 450, "requester": IRIS["email"]}, initiator=IRIS
    )
    return eid, desk.engine.open_wait(eid).wait_id


def inbox_row(page: Page, eid: str) -> Locator:
    return page.locator("#inbox-results tbody tr").filter(
        has=page.locator(f'a[href^="/executions/{eid}#wait-"]')
    )


def refused_when_posted_directly(
    page: Page, desk: SsoDesk, eid: str, wait_id: int, why: str
) -> None:
    """The wait is shown without a form; an answer posted anyway is refused, not consumed."""
    page.goto(f"{desk.url}/executions/{eid}")
    article = page.locator(f"article#wait-{wait_id}")
    expect(article).to_contain_text(f"You may see this request but not answer it ({why})")
    expect(article.locator("form")).to_have_count(0)
    csrf = page.locator('form[action="/logout"] input[name=csrf_token]').get_attribute("value")
    assert csrf, "the page carries the session's CSRF token"
    response = page.request.post(
        f"{desk.url}/executions/{eid}/waits/{wait_id}",
        form={"csrf_token": csrf, "f.reason": "Posted around the page.", "f.approved": "true"},
        max_redirects=0,
    )
    assert response.status == 403, f"{response.status}: {response.text()[:300]}"
    assert why in html.unescape(response.text())
    assert desk.engine.signals(eid) == [], "a refused answer must not be consumed"
    assert [w.wait_id for w in desk.engine.state(eid).waiting_on] == [wait_id]


def test_a_finance_user_logs_in_through_the_provider_and_approves_a_purchase(
    sso_desk: SsoDesk, page: Page
) -> None:
    eid, wait_id = start_purchase(sso_desk, "Audit software licence")
    sso_login(page, sso_desk, "fiona")

    row = inbox_row(page, eid)
    expect(row).to_contain_text("Audit software licence")
    row.get_by_role("link").click()
    form = page.locator(f"article#wait-{wait_id}")
    form.locator('textarea[name="f.reason"]').fill("In the tooling budget.")
    form.get_by_role("button", name="Approve").click()
    expect(page.locator(f"article#wait-{wait_id}")).to_contain_text(RECORDED)

    state = sso_desk.engine.finished(eid)
    assert state.result is not None
    assert state.result.value == {"approved_by": "fiona@example.com"}
    [signal] = sso_desk.engine.signals(eid)
    assert signal.sender is not None and signal.sender["email"] == "fiona@example.com"


def test_someone_outside_the_group_does_not_see_the_wait_and_is_refused_posting_it(
    sso_desk: SsoDesk, page: Page
) -> None:
    eid, wait_id = start_purchase(sso_desk, "Label printer")
    sso_login(page, sso_desk, "eddie")
    expect(page.locator("#inbox-count")).to_be_visible()
    expect(inbox_row(page, eid)).to_have_count(0)
    refused_when_posted_directly(page, sso_desk, eid, wait_id, "not among the wait's approvers")


def test_the_initiator_cannot_approve_their_own_request(sso_desk: SsoDesk, page: Page) -> None:
    eid, wait_id = start_purchase(sso_desk, "Iris's own monitor")
    sso_login(page, sso_desk, "iris")
    expect(page.locator("#inbox-count")).to_be_visible()
    expect(inbox_row(page, eid)).to_have_count(0)
    refused_when_posted_directly(
        page, sso_desk, eid, wait_id, "the initiator may not answer their own request"
    )


def test_logging_out_ends_the_session_at_the_desk_and_the_provider(
    sso_desk: SsoDesk, page: Page
) -> None:
    eid, _ = start_purchase(sso_desk, "Whiteboard")
    sso_login(page, sso_desk, "fiona")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(lambda url: url.startswith(f"{sso_desk.idp.issuer}/session/end"))
    page.get_by_role("button", name="Yes, sign me out").click()
    page.wait_for_url(f"{sso_desk.url}/login")
    page.goto(f"{sso_desk.url}/executions/{eid}")
    page.wait_for_url(f"{sso_desk.url}/login?next=%2Fexecutions%2F{eid}")


def test_a_tampered_session_cookie_is_treated_as_logged_out(sso_desk: SsoDesk, page: Page) -> None:
    sso_login(page, sso_desk, "fiona")
    [cookie] = [c for c in page.context.cookies() if c["name"] == SESSION_COOKIE]
    data, signature = cookie["value"].split(".", 1)
    session = base64.b64decode(data + "=" * (-len(data) % 4)).decode()
    assert "fiona@example.com" in session
    # Someone edits the signed session to be an administrator, keeping the old signature.
    forged = json.loads(
        session.replace("fiona@example.com", "adam@example.com").replace(
            '"finance"', '"stent-admins"'
        )
    )
    forged_data = base64.b64encode(json.dumps(forged).encode()).decode()
    page.context.clear_cookies(name=SESSION_COOKIE)
    page.context.add_cookies([{**cookie, "value": f"{forged_data}.{signature}"}])

    page.goto(f"{sso_desk.url}/")
    page.wait_for_url(f"{sso_desk.url}/login?next=%2F")
    expect(page.get_by_role("link", name="Log in with single sign-on")).to_be_visible()
