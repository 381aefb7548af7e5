"""Every response carries the security headers, errors included: each handled error
(400, 403, 404, 405, 409, 413, 415, 422, 429, 500), on pages and in the API, is provoked
the way a client would and its headers checked."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from test_api_tokens import ORDER, SIMPLE, as_admin, bearer, create_token
from web_helpers import Browser, open_wait, parse

from app.settings import Settings
from app.web import create_app
from app.web.state import Desk

Provoke = Callable[[Browser, dict[str, str], Desk], Awaitable[httpx.Response]]


def assert_protected(response: httpx.Response) -> None:
    """The headers the README promises on every response."""
    policy = response.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in policy, (response.status_code, dict(response.headers))
    assert "script-src 'self'" in policy and "default-src 'self'" in policy
    assert response.headers.get("x-frame-options") == "DENY"
    assert response.headers.get("x-content-type-options") == "nosniff"
    assert response.headers.get("referrer-policy") == "same-origin"
    assert len(response.headers.get_list("content-security-policy")) == 1


async def boom(request: Request) -> Response:
    """A view with a bug: what every unexpected exception looks like to the app."""
    raise RuntimeError("a bug")


@pytest.fixture
async def strict_app(settings: Settings) -> AsyncIterator[Any]:
    """The app with low rate limits (so that a 429 is a few requests away) and a route
    that fails, on pages and in the API."""
    application = create_app(replace(settings, login_rate_limit="3/minute"))
    application.router.routes += [Route("/boom", boom), Route("/api/boom", boom)]
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def admin(strict_app: Any) -> AsyncIterator[Browser]:
    # A server error is answered, then re-raised to the server (which logs it): the
    # client must see the answer, not the exception.
    transport = httpx.ASGITransport(app=strict_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        browser = Browser(client)
        await as_admin(browser)
        yield browser


async def json_post(browser: Browser, url: str, body: bytes, headers: dict[str, str]) -> Any:
    return await browser.client.post(
        url, content=body, headers={"Content-Type": "application/json", **headers}
    )


async def api_400(browser: Browser, token: dict[str, str], desk: Desk) -> httpx.Response:
    eid = await desk.executor.start_execution(ORDER, args=["o"])
    return await json_post(browser, f"/api/executions/{eid}/signals/payment", b"{", token)


async def page_403(browser: Browser, token: dict[str, str], desk: Desk) -> httpx.Response:
    return await browser.client.post("/admin/tokens", data={"name": "no csrf token"})


async def api_403(browser: Browser, token: dict[str, str], desk: Desk) -> httpx.Response:
    scoped = bearer(await create_token(browser, "orders only", (ORDER,)))
    eid = await desk.executor.start_execution(SIMPLE, args=["x"])
    return await json_post(browser, f"/api/executions/{eid}/signals/decision", b"{}", scoped)


async def page_404(browser: Browser, token: dict[str, str], desk: Desk) -> httpx.Response:
    return await browser.get("/executions/no-such-execution")


async def api_404(browser: Browser, token: dict[str, str], desk: Desk) -> httpx.Response:
    return await json_post(browser, "/api/executions/nope/signals/x", b"{}", token)


async def static_404(browser: Browser, token: dict[str, str], desk: Desk) -> httpx.Response:
    return await browser.get("/static/../pyproject.toml")


async def page_405(browser: Browser, token: dict[str, str], desk: Desk) -> httpx.Response:
    return await browser.client.delete("/")


async def page_409(browser: Browser, token: dict[str, str], desk: Desk) -> httpx.Response:
    eid = await desk.executor.start_execution(SIMPLE, args=["x"])
    wait_id = await open_wait(desk.executor, eid, "decision")
    action, fields = await browser.wait_form(eid, wait_id)
    await desk.executor.cancel(eid)
    return await browser.client.post(
        action, data=fields | {"f.approved": "true"}, headers={"HX-Request": "true"}
    )


async def api_409(browser: Browser, token: dict[str, str], desk: Desk) -> httpx.Response:
    eid = await desk.executor.start_execution(ORDER, args=["o"])
    await desk.executor.cancel(eid)
    return await json_post(browser, f"/api/executions/{eid}/signals/payment", b"{}", token)


async def api_413(browser: Browser, token: dict[str, str], desk: Desk) -> httpx.Response:
    big = b'"' + b"x" * (desk.settings.max_signal_bytes + 1) + b'"'
    return await json_post(browser, "/api/executions/e/signals/n", big, token)


async def api_415(browser: Browser, token: dict[str, str], desk: Desk) -> httpx.Response:
    return await browser.client.post(
        "/api/executions/e/signals/n",
        content=b"{}",
        headers={"Content-Type": "text/plain", **token},
    )


async def page_422(browser: Browser, token: dict[str, str], desk: Desk) -> httpx.Response:
    eid = await desk.executor.start_execution(SIMPLE, args=["x"])
    wait_id = await open_wait(desk.executor, eid, "decision")
    return await browser.submit(eid, wait_id, {"_mode": "json", "_json": "{not json"})


async def api_422(browser: Browser, token: dict[str, str], desk: Desk) -> httpx.Response:
    eid = await desk.executor.start_execution(ORDER, args=["o"])
    await open_wait(desk.executor, eid, "payment")
    body = b'{"amount": "lots"}'
    return await json_post(browser, f"/api/executions/{eid}/signals/payment", body, token)


async def page_429(browser: Browser, token: dict[str, str], desk: Desk) -> httpx.Response:
    for _ in range(10):  # the limit is 3 a minute
        response = await browser.client.post("/login", data={})
        if response.status_code == 429:
            break
    return response


async def page_500(browser: Browser, token: dict[str, str], desk: Desk) -> httpx.Response:
    return await browser.get("/boom")


async def api_500(browser: Browser, token: dict[str, str], desk: Desk) -> httpx.Response:
    return await browser.get("/api/boom")


CASES: list[tuple[int, Provoke]] = [
    (400, api_400),
    (403, page_403),
    (403, api_403),
    (404, page_404),
    (404, api_404),
    (404, static_404),
    (405, page_405),
    (409, page_409),
    (409, api_409),
    (413, api_413),
    (415, api_415),
    (422, page_422),
    (422, api_422),
    (429, page_429),
    (500, page_500),
    (500, api_500),
]


@pytest.mark.parametrize(("status", "provoke"), CASES, ids=[c[1].__name__ for c in CASES])
async def test_every_error_carries_the_security_headers(
    strict_app: Any, admin: Browser, status: int, provoke: Provoke
) -> None:
    token = bearer(await create_token(admin, "hook"))
    response = await provoke(admin, token, strict_app.state.desk)
    assert response.status_code == status, response.text[:500]
    assert_protected(response)
    if response.headers["content-type"].startswith("text/html"):
        assert parse(response).get_text(strip=True)  # words for a person, not a traceback
    assert "Traceback" not in response.text and "RuntimeError" not in response.text


async def test_ordinary_pages_and_static_files_carry_them_too(admin: Browser) -> None:
    for url in ("/", "/start", "/login", "/healthz", "/static/favicon.svg"):
        response = await admin.get(url)
        assert response.status_code == 200, url
        assert_protected(response)
