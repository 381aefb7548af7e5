"""Single sign-on against a real OpenID Connect provider (oidc-provider, see tests/oidc_idp).

The app runs in-process (``http://testserver``); the provider is a real server, and an
httpx client follows its redirects and fills in its pages as a browser would.
"""

from __future__ import annotations

import json
import logging
from base64 import b64decode, b64encode
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import itsdangerous
import pytest
from oidc_idp import CLIENT_SECRET, Idp, sso_client, sso_login
from pg_databases import sqlite_only
from sqlalchemy.ext.asyncio import create_async_engine
from web_helpers import Clock, parse

from app.engine import Stent
from app.settings import DEV_SECRET_KEY, Settings
from app.web import create_app
from app.web.session import SEEN_REFRESH_SECONDS
from app.web.sso import LoginRefused, user_from_claims
from app.web.tables import metadata
from app.web.users import UserStore

COOKIE = "stent_desk_session"
HOUR = 3600.0


@pytest.fixture
def settings(db_url: str, idp: Idp) -> Settings:
    return replace(
        Settings(),
        database_url=db_url,
        workflow_modules=("workflows.approval",),
        sqlite_synchronous="NORMAL",
        oidc_issuer=idp.issuer,
        oidc_client_id=idp.client_id,
        oidc_client_secret=idp.client_secret,
        allowed_email_domains=("example.com",),
    )


async def create_users_table(database_url: str) -> None:
    """Until alembic migrates the dashboard's tables: after the executor's migrations, so
    that this is a no-op once a migration has created them."""
    engine = create_async_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    await engine.dispose()


@pytest.fixture
async def app(settings: Settings, clock: Clock) -> AsyncIterator[Any]:
    executor = Stent(settings.database_url, sqlite_synchronous="NORMAL", clock=clock)
    application = create_app(settings, executor)
    async with application.router.lifespan_context(application):
        await create_users_table(settings.database_url)
        yield application


@pytest.fixture
async def person(app: Any, idp: Idp) -> AsyncIterator[httpx.AsyncClient]:
    async with sso_client(app, idp) as client:
        yield client


def session_of(client: httpx.AsyncClient, secret: str = DEV_SECRET_KEY) -> dict[str, Any]:
    """What the signed session cookie holds (the test knows the key)."""
    signed = client.cookies[COOKIE].encode()
    data: dict[str, Any] = json.loads(
        b64decode(itsdangerous.TimestampSigner(secret).unsign(signed))
    )
    return data


async def logged_in(client: httpx.AsyncClient) -> bool:
    response = await client.get("/")
    assert response.status_code in (200, 303), response.text[:300]
    return response.status_code == 200


def message_of(response: httpx.Response) -> str:
    alert = parse(response).find(attrs={"role": "alert"})
    assert alert is not None, response.text[:500]
    return alert.get_text(" ", strip=True)


# ---------------------------------------------------------------------------- logging in
async def test_the_login_page_offers_single_sign_on_next_to_the_development_login(
    person: httpx.AsyncClient,
):
    soup = parse(await person.get("/login?next=/executions/e1"))
    link = soup.find("a", string="Log in with single sign-on")
    assert link is not None and link["href"] == "/login/sso?next=/executions/e1"
    assert soup.find("form", action="/login") is not None


async def test_a_finance_user_lands_on_the_inbox_with_groups_from_the_claim(
    app: Any, person: httpx.AsyncClient, clock: Clock
):
    response = await sso_login(person, "fiona")
    assert response.status_code == 303 and response.headers["location"] == "/"
    inbox = await person.get("/")
    assert inbox.status_code == 200 and parse(inbox).find("h1").get_text() == "Inbox"
    user = session_of(person)["user"]
    assert user == {
        "subject": "fiona",
        "email": "fiona@example.com",
        "name": "Fiona Finance",
        "groups": ["finance"],
        "auth_method": "oidc",
    }
    record = await app.state.users.get_user("fiona")
    assert (record.email, record.groups, record.login_count) == (
        "fiona@example.com",
        ("finance",),
        1,
    )
    assert record.first_login_at == record.last_login_at == clock.now


async def test_each_login_is_recorded_keeping_the_first(app: Any, idp: Idp, clock: Clock):
    first = clock.now
    async with sso_client(app, idp) as one:
        await sso_login(one, "adam")
    clock.now += HOUR
    async with sso_client(app, idp) as two:
        await sso_login(two, "adam")
    store: UserStore = app.state.users
    record = await store.get_user("adam")
    assert record is not None and record.groups == ("stent-admins",)
    assert (record.first_login_at, record.last_login_at, record.login_count) == (
        first,
        first + HOUR,
        2,
    )
    assert await store.get_user("nobody") is None


async def test_login_rotates_the_session(person: httpx.AsyncClient):
    await person.get("/login")
    anonymous_cookie = person.cookies[COOKIE]
    anonymous_csrf = session_of(person)["csrf"]
    await sso_login(person, "fiona")
    assert person.cookies[COOKIE] != anonymous_cookie
    assert session_of(person)["csrf"] != anonymous_csrf
    assert not any(key.startswith("_state_") or key == "sso_next" for key in session_of(person))
    person.cookies.set(COOKIE, anonymous_cookie)
    assert not await logged_in(person)


@pytest.mark.parametrize(
    ("next_url", "landing"),
    [
        ("/executions/e1?tab=steps", "/executions/e1?tab=steps"),
        ("https://evil.example/steal", "/"),
        ("//evil.example/steal", "/"),
        ("/\\evil.example", "/"),
    ],
)
async def test_next_survives_the_round_trip_but_only_as_a_local_path(
    person: httpx.AsyncClient, next_url: str, landing: str
):
    response = await sso_login(
        person, "eddie", str(httpx.URL("/login/sso", params={"next": next_url}))
    )
    assert response.status_code == 303 and response.headers["location"] == landing


# ---------------------------------------------------------------------------- refusals
async def test_a_callback_with_a_state_this_browser_never_sent_is_refused(
    person: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
):
    start = await person.get("/login/sso")
    assert start.status_code == 302
    with caplog.at_level(logging.WARNING, "stent.web.sso"):
        response = await person.get("/auth/callback?code=stolen-code&state=forged-state")
    assert response.status_code == 400
    assert "Start again" in message_of(response)
    assert "state does not match" in caplog.text
    assert "stolen-code" not in caplog.text and "forged-state" not in caplog.text
    assert not await logged_in(person)


async def test_a_callback_cannot_be_replayed(app: Any, idp: Idp):
    async with sso_client(app, idp) as victim:
        first = await sso_login(victim, "fiona")
        callback = str(first.request.url)
    async with sso_client(app, idp) as attacker:
        replay = await attacker.get(callback)
        assert replay.status_code == 400 and not await logged_in(attacker)


async def test_an_error_from_the_provider_is_a_clear_page(
    person: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
):
    with caplog.at_level(logging.WARNING, "stent.web.sso"):
        response = await sso_login(person, "fiona", abort=True)
    assert response.status_code == 400
    assert "did not log you in (access_denied)" in message_of(response)
    assert "provider error 'access_denied'" in caplog.text
    assert not await logged_in(person)


async def test_a_malformed_callback_is_a_clear_page(person: httpx.AsyncClient):
    for query in ("", "?code=", "?state=", "?error=", "?code=x&state=y&iss=nonsense"):
        response = await person.get(f"/auth/callback{query}")
        assert response.status_code == 400, (query, response.text[:300])


@pytest.mark.parametrize(
    ("login", "words"),
    [
        ("nomail", "has no email address"),
        ("unverified", "not verified"),
        ("outsider", "at example.net may not use"),
    ],
)
async def test_people_without_an_allowed_verified_email_are_refused(
    app: Any, person: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, login: str, words: str
):
    with caplog.at_level(logging.WARNING, "stent.web.sso"):
        response = await sso_login(person, login)
    assert response.status_code == 403
    assert words in message_of(response)
    assert login in caplog.text and CLIENT_SECRET not in caplog.text
    assert not await logged_in(person)
    assert await app.state.users.get_user(login) is None


async def test_any_domain_may_log_in_when_none_is_configured(
    settings: Settings, clock: Clock, idp: Idp
):
    open_settings = replace(settings, allowed_email_domains=())
    application = create_app(open_settings, Stent(settings.database_url, clock=clock))
    async with application.router.lifespan_context(application):
        await create_users_table(settings.database_url)
        async with sso_client(application, idp) as client:
            assert (await sso_login(client, "outsider")).status_code == 303
            assert session_of(client)["user"]["email"] == "oscar@example.net"


async def test_without_an_issuer_there_is_no_single_sign_on(
    settings: Settings, clock: Clock, idp: Idp
):
    off = replace(settings, oidc_issuer="")
    application = create_app(off, Stent(settings.database_url, clock=clock))
    async with (
        application.router.lifespan_context(application),
        sso_client(application, idp) as client,
    ):
        assert (
            parse(await client.get("/login")).find("a", string="Log in with single sign-on") is None
        )
        assert (await client.get("/login/sso")).status_code == 404
        assert (await client.get("/auth/callback?code=x&state=y")).status_code == 404


def test_claims_become_a_user() -> None:
    settings = Settings(oidc_groups_claim="roles")
    user = user_from_claims(
        {"sub": "u1", "email": "Ann@Example.COM", "roles": "finance", "preferred_username": "ann"},
        settings,
    )
    assert (user.email, user.name, user.groups, user.auth_method) == (
        "ann@example.com",
        "ann",
        ("finance",),
        "oidc",
    )
    assert user_from_claims(
        {"sub": "u1", "email": "a@x.org", "roles": [" a ", "b", "a", ""]}, settings
    ).groups == ("a", "b")
    assert (
        user_from_claims({"sub": "u1", "email": "a@x.org", "roles": {"a": 1}}, settings).groups
        == ()
    )
    with pytest.raises(LoginRefused) as refused:
        user_from_claims({"email": "a@x.org"}, settings)
    assert refused.value.status == 400


# ---------------------------------------------------------------------------- logging out
async def test_logout_clears_the_session_and_ends_the_providers_session(
    person: httpx.AsyncClient, idp: Idp
):
    await sso_login(person, "fiona")
    id_token = session_of(person)["id_token"]
    response = await person.post("/logout", data={"csrf_token": session_of(person)["csrf"]})
    assert response.status_code == 303
    target = urlsplit(response.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{idp.issuer}/session/end"
    params = parse_qs(target.query)
    assert params["post_logout_redirect_uri"] == ["http://testserver/login"]
    assert params["id_token_hint"] == [id_token] and params["client_id"] == [idp.client_id]
    assert not await logged_in(person)
    # The provider accepts the hint and the way back, and signs the person out.
    confirm = await person.get(response.headers["location"])
    form = parse(confirm).find("form")
    fields = {i["name"]: i.get("value", "") for i in form.find_all("input") if i.get("name")}
    done = await person.post(confirm.url.join(form["action"]), data=fields | {"logout": "yes"})
    while done.is_redirect and done.url.host != "testserver":
        done = await person.get(done.url.join(done.headers["location"]))
    assert str(done.url).startswith("http://testserver/login")


async def test_logout_of_a_development_login_stays_local(person: httpx.AsyncClient):
    form = parse(await person.get("/login")).find("form", action="/login")
    fields = {i["name"]: i.get("value", "") for i in form.find_all("input") if i.get("name")}
    await person.post("/login", data=fields | {"name": "Dev", "email": "dev@example.com"})
    response = await person.post("/logout", data={"csrf_token": session_of(person)["csrf"]})
    assert response.headers["location"] == "/login"


# ---------------------------------------------------------------------------- expiry
async def test_an_idle_session_expires(person: httpx.AsyncClient, clock: Clock):
    await sso_login(person, "fiona")
    clock.now += 8 * HOUR - 1
    assert await logged_in(person)  # used just in time: the idle clock starts again
    clock.now += 8 * HOUR - 1
    assert await logged_in(person)
    clock.now += 8 * HOUR
    response = await person.get("/executions/e1")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    page = parse(await person.get(response.headers["location"]))
    assert (
        page.find(attrs={"role": "status"}).get_text() == "Your session has expired. Log in again."
    )
    assert not await logged_in(person)


async def test_last_seen_is_refreshed_at_most_once_a_minute(
    person: httpx.AsyncClient, clock: Clock
):
    await sso_login(person, "fiona")
    clock.now += SEEN_REFRESH_SECONDS - 1
    assert "set-cookie" not in (await person.get("/")).headers
    clock.now += 1
    assert "set-cookie" in (await person.get("/")).headers
    assert session_of(person)["seen_at"] == clock.now


async def test_a_busy_session_still_ends_at_the_absolute_timeout(
    person: httpx.AsyncClient, clock: Clock
):
    await sso_login(person, "fiona")
    for _ in range(7 * 24 // 6 - 1):
        clock.now += 6 * HOUR
        assert await logged_in(person)
    clock.now += 6 * HOUR  # 7 days after the login
    assert not await logged_in(person)


async def test_a_tampered_session_cookie_is_logged_out(person: httpx.AsyncClient):
    await sso_login(person, "fiona")
    payload, timestamp, signature = person.cookies[COOKIE].split(".")
    forged = json.loads(b64decode(payload))
    forged["user"]["groups"] = ["stent-admins"]
    person.cookies.set(
        COOKIE, ".".join([b64encode(json.dumps(forged).encode()).decode(), timestamp, signature])
    )
    assert not await logged_in(person)


# ---------------------------------------------------------------------------- production
@sqlite_only  # settings only: no database is opened
def test_production_refuses_every_unsafe_setting_at_once(settings: Settings):
    unsafe = replace(settings, env="production")
    with pytest.raises(ValueError) as refused:
        create_app(unsafe)
    message = str(refused.value)
    assert message.startswith("Stent Desk refuses to start in production mode: ")
    for words in (
        "development login is on",
        "STENT_SECRET_KEY is the development default",
        "STENT_SECURE_COOKIES",
    ):
        assert words in message
    short = replace(unsafe, dev_login=False, secure_cookies=True, secret_key="x" * 31)
    assert short.problems() == ["STENT_SECRET_KEY is shorter than 32 characters"]
    assert replace(short, secret_key="x" * 32).problems() == []
    half = replace(settings, oidc_client_secret="")
    assert half.problems() == [
        "STENT_OIDC_ISSUER is set but STENT_OIDC_CLIENT_ID or STENT_OIDC_CLIENT_SECRET is empty"
    ]


async def test_production_offers_only_single_sign_on(settings: Settings, clock: Clock, idp: Idp):
    safe = replace(
        settings,
        env="production",
        dev_login=False,
        secure_cookies=True,
        secret_key="a-production-secret-key-of-some-length",
    )
    application = create_app(safe, Stent(settings.database_url, clock=clock))
    async with (
        application.router.lifespan_context(application),
        sso_client(application, idp) as client,
    ):
        soup = parse(await client.get("/login"))
        assert soup.find("a", string="Log in with single sign-on") is not None
        assert soup.find("form", action="/login") is None


# ---------------------------------------------------------------------------- rate limit
async def test_login_attempts_are_rate_limited_per_client_address(
    settings: Settings, clock: Clock, idp: Idp
):
    limited = replace(settings, login_rate_limit="3/minute")
    application = create_app(limited, Stent(settings.database_url, clock=clock))
    async with (
        application.router.lifespan_context(application),
        sso_client(application, idp) as client,
        sso_client(application, idp, client_address="198.51.100.9") as other,
    ):
        for _ in range(3):
            assert (await client.get("/login/sso")).status_code == 302
        refused = await client.get("/auth/callback?code=x&state=y")
        # A sliding window, and the clock stands at the start of a minute: this minute's 3
        # attempts still weigh 3 * (60 - s) / 60 at s seconds into the next, leaving room
        # for one more at s = 20, 80 s from now (the clock is the app's: exactly 80).
        assert refused.status_code == 429 and refused.headers["retry-after"] == "80"
        assert (
            "Too many attempts from your address. Try again in 80 seconds."
            in parse(refused).get_text()
        )
        assert (await client.get("/login")).status_code == 200  # the page itself is not
        assert (await other.get("/login/sso")).status_code == 302


async def test_an_unreachable_provider_is_a_clear_page(settings: Settings, clock: Clock, idp: Idp):
    from oidc_idp import free_port

    down = replace(settings, oidc_issuer=f"http://127.0.0.1:{free_port()}")
    application = create_app(down, Stent(settings.database_url, clock=clock))
    async with (
        application.router.lifespan_context(application),
        sso_client(application, idp) as client,
    ):
        response = await client.get("/login/sso")
        assert response.status_code == 503 and "cannot be reached" in message_of(response)
