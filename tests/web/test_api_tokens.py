"""API tokens: administrators create and revoke them; machines send signals with them."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

import httpx
import limits
import pytest
import sqlalchemy as sa
from bs4 import Tag
from patience import patience
from web_helpers import Browser, form_fields, open_wait, parse

from app.engine import WaitInfo
from app.web.authorization import token_may_answer
from app.web.ratelimit import RateLimiter
from app.web.state import Desk
from app.web.tables import api_tokens
from app.web.tokens import Token

SIMPLE = "desk_workflows.simple_approval"
ORDER = "desk_workflows.order_webhooks"
PROBLEM = "application/problem+json"


async def as_admin(browser: Browser) -> Browser:
    await browser.login("Ada Admin", "ada@example.com", "stent-admins")
    return browser


async def create_token(
    admin: Browser, name: str, workflows: tuple[str, ...] = (), signals: str = ""
) -> str:
    """Create a token through the admin page; its plaintext, read from the result page."""
    soup = await admin.page("/admin/tokens")
    form = soup.find("form", action="/admin/tokens")
    assert isinstance(form, Tag)
    fields: dict[str, Any] = form_fields(form) | {"name": name, "signals": signals}
    fields["workflows"] = list(workflows)
    response = await admin.client.post("/admin/tokens", data=fields)
    assert response.status_code == 200, response.text[:500]
    assert response.headers["cache-control"] == "no-store"
    secret = parse(response).find(id="token-secret")
    assert isinstance(secret, Tag)
    return str(secret["value"])


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def post(
    client: httpx.AsyncClient,
    eid: str,
    name: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
) -> httpx.Response:
    url = f"/api/executions/{eid}/signals/{name}"
    if content is not None:  # raw bytes, declared as JSON as the API asks
        sent = {"Content-Type": "application/json", **(headers or {})}
        return await client.post(url, content=content, headers=sent)
    return await client.post(url, json=body, headers=headers or {})


async def start(app: Any, workflow: str, *args: Any) -> tuple[Desk, str]:
    desk: Desk = app.state.desk
    return desk, await desk.executor.start_execution(workflow, args=list(args))


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and "detail" in body
    return body


async def test_an_admin_creates_a_token_shown_once_and_stored_hashed(
    app: Any, anonymous: Browser
) -> None:
    admin = await as_admin(anonymous)
    secret = await create_token(admin, "billing-webhook", (ORDER,), "payment, shipment")
    assert secret.startswith("sdk_") and len(secret) > 40
    page = await admin.get("/admin/tokens")
    assert "billing-webhook" in page.text and secret not in page.text
    engine = app.state.tokens.engine
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(api_tokens))).one()
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in [str(v) for v in row]
    assert (row.name, row.created_by) == ("billing-webhook", "ada@example.com")
    assert '"payment"' in row.signals and ORDER in row.workflows
    again = await admin.client.post(
        "/admin/tokens",
        data=form_fields(parse(page).find("form", action="/admin/tokens"))
        | {"name": "billing-webhook"},
    )
    assert again.status_code == 422 and "Another token has this name" in again.text


async def test_only_admins_reach_the_token_pages(app: Any, ann: Browser) -> None:
    assert (await ann.get("/admin/tokens")).status_code == 403
    token = parse(await ann.get("/")).find("input", attrs={"name": "csrf_token"})["value"]
    response = await ann.client.post("/admin/tokens", data={"csrf_token": token, "name": "mine"})
    assert response.status_code == 403
    assert (
        await ann.client.post("/admin/tokens/x/revoke", data={"csrf_token": token})
    ).status_code == 403
    assert await app.state.tokens.list() == []


async def test_token_forms_need_the_csrf_token(app: Any, anonymous: Browser) -> None:
    admin = await as_admin(anonymous)
    response = await admin.client.post("/admin/tokens", data={"name": "forged"})
    assert response.status_code == 403
    assert await app.state.tokens.list() == []


async def test_a_token_answers_a_wait_as_its_name_without_a_session(
    app: Any, anonymous: Browser
) -> None:
    secret = await create_token(await as_admin(anonymous), "billing-webhook", (ORDER,), "payment")
    desk, eid = await start(app, ORDER, "o-1")
    wait_id = await open_wait(desk.executor, eid, "payment")
    transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 40000))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers={"user-agent": "billing/2.0"}
    ) as machine:
        response = await post(machine, eid, "payment", {"amount": 120}, bearer(secret))
        assert response.status_code == 202, response.text
        assert "set-cookie" not in response.headers
    body = response.json()
    assert body["duplicate"] is False and body["consumed_by_step"] == wait_id
    assert set(body) == {"signal_id", "seq", "duplicate", "consumed_by_step"}
    [signal] = await desk.executor.signals_of(eid)
    assert signal.payload == {"amount": 120} and signal.state == "consumed"
    assert signal.sender is not None
    assert signal.sender["token"] == "billing-webhook" and signal.sender["source"] == "api"
    assert signal.sender["ip_address"] == "198.51.100.9"
    assert signal.sender["user_agent"] == "billing/2.0" and signal.sender["token_id"]
    [token] = await app.state.tokens.list()
    assert token.last_used_at is not None


async def test_without_an_open_wait_the_signal_is_buffered(app: Any, anonymous: Browser) -> None:
    secret = await create_token(await as_admin(anonymous), "shipper", (ORDER,))
    desk, eid = await start(app, ORDER, "o-2")
    await open_wait(desk.executor, eid, "payment")
    response = await post(anonymous.client, eid, "shipment", {"carrier": "DHL"}, bearer(secret))
    assert response.status_code == 202 and response.json()["consumed_by_step"] is None
    assert (
        await post(anonymous.client, eid, "payment", {"amount": 5}, bearer(secret))
    ).status_code == 202
    result = await desk.executor.wait_for(eid, timeout=patience(10))
    assert result.unwrap()["shipment"] == {"carrier": "DHL"}


@pytest.mark.parametrize("header", [None, "Bearer sdk_unknown", "Basic abc", "Bearer "])
async def test_missing_or_unknown_tokens_get_401(
    app: Any, anonymous: Browser, header: str | None
) -> None:
    desk, eid = await start(app, SIMPLE, "x")
    await open_wait(desk.executor, eid, "decision")
    response = await post(
        anonymous.client,
        eid,
        "decision",
        {"approved": True},
        {"Authorization": header} if header else {},
    )
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert await desk.executor.signals_of(eid) == []


async def test_a_revoked_token_gets_401(app: Any, anonymous: Browser) -> None:
    admin = await as_admin(anonymous)
    secret = await create_token(admin, "old-hook")
    desk, eid = await start(app, SIMPLE, "x")
    await open_wait(desk.executor, eid, "decision")
    [token] = await app.state.tokens.list()
    soup = await admin.page("/admin/tokens")
    form = soup.find("form", action=f"/admin/tokens/{token.id}/revoke")
    assert isinstance(form, Tag)
    revoke = await admin.client.post(str(form["action"]), data=form_fields(form))
    assert revoke.status_code == 303
    assert "revoked" in (await admin.get("/admin/tokens")).text
    response = await post(anonymous.client, eid, "decision", {"approved": True}, bearer(secret))
    assert_problem(response, 401)
    assert await desk.executor.signals_of(eid) == []


@pytest.mark.parametrize(
    ("workflows", "signals", "reason"),
    [
        ((ORDER,), "", "workflow"),
        ((), "payment", "signal"),
    ],
)
async def test_out_of_scope_gets_403_and_the_refusal_is_recorded(
    app: Any, anonymous: Browser, workflows: tuple[str, ...], signals: str, reason: str
) -> None:
    secret = await create_token(await as_admin(anonymous), "narrow", workflows, signals)
    desk, eid = await start(app, SIMPLE, "x")
    wait_id = await open_wait(desk.executor, eid, "decision")
    response = await post(anonymous.client, eid, "decision", {"approved": True}, bearer(secret))
    assert reason in assert_problem(response, 403)["detail"]
    assert await desk.executor.signals_of(eid) == []
    [refusal] = await desk.executor.refusals_of(eid)
    assert (refusal.path, refusal.wait_id, refusal.name) == ("api", wait_id, "decision")
    assert reason in refusal.reason
    assert refusal.sender is not None and refusal.sender["token"] == "narrow"


async def test_unknown_execution_is_404(app: Any, anonymous: Browser) -> None:
    secret = await create_token(await as_admin(anonymous), "hook")
    assert_problem(await post(anonymous.client, "nope", "decision", {}, bearer(secret)), 404)


async def test_finished_execution_and_closed_wait_are_409(
    app: Any, anonymous: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = await create_token(await as_admin(anonymous), "hook")
    desk, eid = await start(app, SIMPLE, "x")
    await open_wait(desk.executor, eid, "decision")
    ok = await post(anonymous.client, eid, "decision", {"approved": True}, bearer(secret))
    assert ok.status_code == 202
    await desk.executor.wait_for(eid, timeout=patience(10))
    body = assert_problem(
        await post(anonymous.client, eid, "decision", {"approved": True}, bearer(secret)), 409
    )
    assert body["state"] == "completed"

    _, order = await start(app, ORDER, "o-3")
    await open_wait(desk.executor, order, "payment")
    stale = await desk.executor.state_of(order)  # the wait looks open to the next request
    assert (
        await post(anonymous.client, order, "payment", {"amount": 1}, bearer(secret))
    ).status_code == 202

    async def state_of(execution_id: str) -> Any:
        return stale

    monkeypatch.setattr(desk.executor, "state_of", state_of)
    body = assert_problem(
        await post(anonymous.client, order, "payment", {"amount": 2}, bearer(secret)), 409
    )
    assert body["title"] == "Wait closed" and body["wait_status"] == "answered"


async def test_bodies_too_large_malformed_or_invalid(app: Any, anonymous: Browser) -> None:
    secret = await create_token(await as_admin(anonymous), "hook")
    desk, eid = await start(app, ORDER, "o-4")
    await open_wait(desk.executor, eid, "payment")
    limit = desk.settings.max_signal_bytes
    big = b'{"amount": 1, "pad": "' + b"x" * limit + b'"}'
    assert_problem(
        await post(anonymous.client, eid, "payment", headers=bearer(secret), content=big), 413
    )
    assert_problem(
        await post(anonymous.client, eid, "payment", headers=bearer(secret), content=b"{not json"),
        400,
    )
    body = assert_problem(
        await post(anonymous.client, eid, "payment", {"amount": "lots"}, bearer(secret)), 422
    )
    assert list(body["errors"]) == ["amount"]
    assert await desk.executor.signals_of(eid) == []


async def test_an_idempotency_key_sends_once(app: Any, anonymous: Browser) -> None:
    secret = await create_token(await as_admin(anonymous), "hook")
    desk, eid = await start(app, ORDER, "o-5")
    await open_wait(desk.executor, eid, "payment")
    headers = bearer(secret) | {"Idempotency-Key": "evt-42"}
    first = await post(anonymous.client, eid, "payment", {"amount": 7}, headers)
    second = await post(anonymous.client, eid, "payment", {"amount": 7}, headers)
    assert first.status_code == second.status_code == 202
    assert first.json()["duplicate"] is False and second.json()["duplicate"] is True
    assert first.json()["signal_id"] == second.json()["signal_id"]
    assert len(await desk.executor.signals_of(eid)) == 1
    conflict = await post(anonymous.client, eid, "payment", {"amount": 8}, headers)
    assert_problem(conflict, 422)


async def test_the_api_is_rate_limited_per_address(app: Any, anonymous: Browser) -> None:
    assert app.state.api_limiter.rate == limits.parse("600/minute")  # the default
    app.state.api_limiter = RateLimiter("3/minute", "api", app.state.api_limiter.engine)
    statuses = [(await post(anonymous.client, "e", "n", {})).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    response = await post(anonymous.client, "e", "n", {})
    assert_problem(response, 429)
    assert int(response.headers["retry-after"]) >= 1


@pytest.mark.parametrize(
    ("workflows", "signals", "allowed", "reason"),
    [
        ((), (), True, "allowed"),
        (("wf",), ("approval",), True, "allowed"),
        (("other",), (), False, "workflow"),
        ((), ("other",), False, "signal"),
    ],
)
def test_the_token_rule_is_its_scopes(
    workflows: tuple[str, ...], signals: tuple[str, ...], allowed: bool, reason: str
) -> None:
    token = Token("t1", "hook", workflows, signals, "ada@example.com", 0.0)
    wait = WaitInfo("e1", "wf", 3, "approval", None, None, None, 0.0)
    decision = token_may_answer(token, wait)
    assert decision.allowed is allowed and reason in decision.reason
    assert not token_may_answer(replace(token, revoked_at=1.0), wait).allowed
    assert not token_may_answer(None, wait).allowed
