"""Single sign-on in Chromium: the provider's own login and consent pages, and back.

A server of its own (the session's `server` has no single sign-on): its port is chosen
first, because the provider only sends people back to the exact callback URL it knows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from e2e_harness import Server, serving
from oidc_idp import Idp, free_port, running_idp
from playwright.sync_api import Page, expect
from sqlalchemy import create_engine

from app.web.tables import metadata


@dataclass(frozen=True)
class SsoDesk:
    server: Server
    idp: Idp


def create_users_table(database_url: str) -> None:
    """Until alembic migrates the dashboard's tables (a no-op once it does)."""
    engine = create_engine(database_url.replace("+aiosqlite", ""))
    metadata.create_all(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def sso_desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SsoDesk]:
    tmp = tmp_path_factory.mktemp("sso")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running_idp(tmp, [f"{url}/auth/callback"], [f"{url}/login"]) as idp:
        settings = {
            "STENT_OIDC_ISSUER": idp.issuer,
            "STENT_OIDC_CLIENT_ID": idp.client_id,
            "STENT_OIDC_CLIENT_SECRET": idp.client_secret,
            "STENT_ALLOWED_EMAIL_DOMAINS": "example.com",
        }
        with serving(tmp, port, settings) as server:
            create_users_table(server.database_url)
            yield SsoDesk(server, idp)


def test_logging_in_and_out_through_the_provider(sso_desk: SsoDesk, page: Page):
    app, offset = sso_desk.server.url, sso_desk.server.log.stat().st_size
    page.goto(f"{app}/")
    page.get_by_role("link", name="Log in with single sign-on").click()
    page.locator("input[name=login]").fill("fiona")
    page.locator("input[name=password]").fill("any password")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(f"{app}/")
    expect(page.get_by_role("heading", name="Inbox", level=1)).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(lambda url: url.startswith(f"{sso_desk.idp.issuer}/session/end"))
    page.get_by_role("button", name="Yes, sign me out").click()
    page.wait_for_url(f"{app}/login")
    page.goto(f"{app}/")
    page.wait_for_url(f"{app}/login?next=%2F")
    assert sso_desk.server.errors_since(offset) == []
