"""Server-side sessions: logout, an administrator and the timeouts end a session for every
copy of its cookie, whatever the cookie itself says."""

from __future__ import annotations

import json
from base64 import b64decode, b64encode
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import itsdangerous
import pytest
from bs4 import BeautifulSoup, Tag
from web_helpers import Browser, Clock, form_fields, parse

from app.engine import Stent
from app.settings import DEV_SECRET_KEY, Settings
from app.web import create_app
from app.web.session import SEEN_REFRESH_SECONDS
from app.web.sessions import SessionStore

COOKIE = "stent_desk_session"
HOUR = 3600.0
DAY = 24 * HOUR


@pytest.fixture
async def app(settings: Settings, clock: Clock) -> AsyncIterator[Any]:
    """The dashboard on the test's clock (timeouts are the app's time, not the wall's)."""
    application = create_app(settings, Stent(settings.database_url, clock=clock))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def new_browser(app: Any) -> Callable[[], httpx.AsyncClient]:
    """A new browser (cookie jar) on the app each call."""

    def new() -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")

    return new


async def logged_in(browser: Browser) -> bool:
    """Whether the inbox opens (else the login page is where it sends)."""
    response = await browser.get("/")
    assert response.status_code in (200, 303), response.text[:300]
    if response.status_code == 303:
        assert response.headers["location"].startswith("/login")
    return response.status_code == 200


async def csrf_of(browser: Browser) -> str:
    """The CSRF token of the browser's session, from the logout form of the inbox."""
    form = (await browser.page("/")).find("form", action="/logout")
    assert isinstance(form, Tag)
    return form_fields(form)["csrf_token"]


def copy_of(browser: Browser, new: Callable[[], httpx.AsyncClient]) -> Browser:
    """Another browser holding a copy of ``browser``'s session cookie."""
    client = new()
    client.cookies.set(COOKIE, browser.client.cookies[COOKIE])
    return Browser(client)


def listed(soup: BeautifulSoup) -> list[str]:
    """The emails of the people the admin page lists, in its order."""
    return [str(row.select_one("td small").get_text()) for row in soup.select("#sessions tbody tr")]


def person_row(soup: BeautifulSoup, email: str) -> Tag:
    """The row of the admin page's sessions table for the person with this email."""
    rows = soup.select("#sessions tbody tr")
    assert email in listed(soup), soup.get_text(" ", strip=True)[:500]
    return rows[listed(soup).index(email)]


async def revoke(admin: Browser, email: str) -> httpx.Response:
    """Press "Revoke sessions" on the admin page for the person with this email."""
    form = person_row(await admin.page("/admin/sessions"), email).find("form")
    assert isinstance(form, Tag)
    button = form.find("button")
    assert button is not None and button.get_text(strip=True) == "Revoke sessions"
    return await admin.client.post(str(form["action"]), data=form_fields(form))


@pytest.fixture
async def adam(new_browser: Callable[[], httpx.AsyncClient]) -> AsyncIterator[Browser]:
    """Adam, an administrator."""
    async with new_browser() as client:
        admin = Browser(client)
        await admin.login("Adam Admin", "adam@example.com", "stent-admins")
        yield admin


# ---------------------------------------------------------------------------- logout
async def test_a_copy_of_the_cookie_taken_before_logout_is_refused_after_logout(
    ann: Browser, new_browser: Callable[[], httpx.AsyncClient]
) -> None:
    async with copy_of(ann, new_browser).client as stolen:
        thief = Browser(stolen)
        assert await logged_in(thief)  # a copy works while the session lives
        response = await ann.client.post("/logout", data={"csrf_token": await csrf_of(ann)})
        assert response.status_code == 303 and response.headers["location"] == "/login"
        assert not await logged_in(thief)
        # and it stays refused: the login page says the session is over
        page = await thief.page("/login")
        status = page.find(attrs={"role": "status"})
        assert status is not None
        assert status.get_text() == "Your session has expired. Log in again."
        assert not await logged_in(ann)


async def test_logging_in_again_after_logout_opens_a_new_session(ann: Browser) -> None:
    await ann.client.post("/logout", data={"csrf_token": await csrf_of(ann)})
    await ann.login("Ann Approver", "ann@example.com", "finance")
    assert await logged_in(ann)


# ---------------------------------------------------------------------------- administrators
async def test_an_admin_revoking_anns_sessions_logs_out_her_every_browser_but_not_bobs(
    app: Any,
    ann: Browser,
    bob: Browser,
    adam: Browser,
    new_browser: Callable[[], httpx.AsyncClient],
) -> None:
    async with new_browser() as laptop:
        ann_laptop = Browser(laptop)
        await ann_laptop.login("Ann Approver", "ann@example.com", "finance")
        page = await adam.page("/admin/sessions")
        ann_row = person_row(page, "ann@example.com")
        assert len(ann_row.select("td ul li")) == 2  # her two browsers
        assert len(person_row(page, "bob@example.com").select("td ul li")) == 1

        response = await revoke(adam, "ann@example.com")
        assert response.status_code == 303 and response.headers["location"] == "/admin/sessions"

        assert not await logged_in(ann) and not await logged_in(ann_laptop)
        assert await logged_in(bob) and await logged_in(adam)
        page = await adam.page("/admin/sessions")
        assert listed(page) == ["adam@example.com", "bob@example.com"]


async def test_a_non_admin_cannot_see_or_revoke_sessions(ann: Browser, bob: Browser) -> None:
    assert (await bob.get("/admin/sessions")).status_code == 403
    ann_subject = json.loads(b64decode(ann.client.cookies[COOKIE].split(".")[0]))["user"]["subject"]
    response = await bob.client.post(
        "/admin/sessions/revoke", data={"csrf_token": await csrf_of(bob), "subject": ann_subject}
    )
    assert response.status_code == 403
    assert await logged_in(ann)


async def test_a_revoke_form_without_its_csrf_token_is_refused(ann: Browser, adam: Browser) -> None:
    form = person_row(await adam.page("/admin/sessions"), "ann@example.com").find("form")
    assert isinstance(form, Tag)
    fields = form_fields(form)
    for forged in ({"subject": fields["subject"]}, fields | {"csrf_token": "forged"}):
        response = await adam.client.post("/admin/sessions/revoke", data=forged)
        assert response.status_code == 403
        assert "This form has expired" in parse(response).get_text()
    assert await logged_in(ann)


# ---------------------------------------------------------------------------- timeouts
def forged(client: httpx.AsyncClient, **changes: float) -> None:
    """Re-sign the session cookie with other times (as one could who knew the key)."""
    signer = itsdangerous.TimestampSigner(DEV_SECRET_KEY)
    data = json.loads(b64decode(signer.unsign(client.cookies[COOKIE].encode())))
    payload = b64encode(json.dumps(data | changes).encode())
    client.cookies.set(COOKIE, signer.sign(payload).decode())


async def test_the_idle_timeout_ends_the_session_on_the_server(
    ann: Browser, adam: Browser, clock: Clock
) -> None:
    clock.now += 8 * HOUR - 1
    assert await logged_in(ann) and await logged_in(adam)  # both used: idle time restarts
    clock.now += 4 * HOUR
    assert await logged_in(adam)
    clock.now += 4 * HOUR  # Ann unused for 8 h; Adam for 4 h
    forged(ann.client, seen_at=clock.now)  # the cookie's own times are not believed
    assert not await logged_in(ann)
    page = await adam.page("/admin/sessions")
    assert listed(page) == ["adam@example.com"]


async def test_the_absolute_timeout_ends_even_a_busy_session_on_the_server(
    ann: Browser, clock: Clock
) -> None:
    for _ in range(7 * 4 - 1):
        clock.now += 6 * HOUR
        assert await logged_in(ann)
    clock.now += 6 * HOUR  # 7 days after the login
    forged(ann.client, login_at=clock.now, seen_at=clock.now)
    assert not await logged_in(ann)


async def test_last_seen_is_written_at_most_once_a_minute(
    app: Any, ann: Browser, clock: Clock
) -> None:
    store: SessionStore = app.state.sessions
    settings: Settings = app.state.desk.settings

    async def last_seen() -> float:
        (record,) = await store.active(
            clock.now, settings.session_idle_timeout, settings.session_absolute_timeout
        )
        return record.last_seen_at

    login = clock.now
    for _ in range(3):
        clock.now += (SEEN_REFRESH_SECONDS - 1) / 3
        assert await logged_in(ann)
    assert await last_seen() == login
    clock.now += 1
    assert await logged_in(ann)
    assert await last_seen() == clock.now
