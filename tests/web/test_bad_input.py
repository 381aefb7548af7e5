"""Bad input never breaks a page: text that is not Unicode, JSON nested too deeply and
bodies that are not JSON are refused with a clear error at every door, storing nothing;
and a value stored before these rules still renders on every page.

The decision: a string holding a lone surrogate (the JSON text ``"\\ud800"``) is not
text, so the executor refuses it (``SignalValidationError`` naming the field, for signals;
``NotSerializable`` for a start's arguments) before anything is written, whatever door it
came through. Pages print any such value already stored as U+FFFD.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from test_api_tokens import ORDER, SIMPLE, as_admin, assert_problem, bearer, create_token, start
from web_helpers import Browser, open_wait, parse

from app.engine import ExecutionNotFound, NotSerializable, SignalValidationError, Stent
from app.engine.tables import executions, signals
from app.web.state import Desk

LONE = "\ud800"  # half of a surrogate pair: valid JSON text, not Unicode text
URL = "/api/executions/{}/signals/{}"


def nested(depth: int, kind: str) -> bytes:
    """JSON nested ``depth`` deep: arrays, objects, or arrays inside objects."""
    opening = {"arrays": "[", "objects": '{"a":', "mixed": '{"a":['}[kind]
    closing = {"arrays": "]", "objects": "}", "mixed": "]}"}[kind]
    return (opening * depth + "1" + closing * depth).encode()


async def api_token(anonymous: Browser) -> dict[str, str]:
    return bearer(await create_token(await as_admin(anonymous), "hook"))


# ------------------------------------------------------------------- text that is not text
async def test_the_api_refuses_a_lone_surrogate_naming_the_field(
    app: Any, anonymous: Browser
) -> None:
    headers = await api_token(anonymous)
    desk, eid = await start(app, ORDER, "o-1")
    await open_wait(desk.executor, eid, "payment")
    body = b'{"amount": 5, "note": "\\ud800"}'
    response = await anonymous.client.post(
        URL.format(eid, "payment"),
        content=body,
        headers={**headers, "Content-Type": "application/json"},
    )
    problem = assert_problem(response, 422)
    assert list(problem["errors"]) == ["note"]
    assert "not valid Unicode text" in problem["errors"]["note"][0]
    assert await desk.executor.signals_of(eid) == []
    page = await anonymous.get(f"/executions/{eid}")
    assert page.status_code == 200


async def test_the_json_editor_refuses_a_lone_surrogate_as_a_field_error(
    app: Any, ann: Browser
) -> None:
    desk: Desk = app.state.desk
    eid = await desk.executor.start_execution(SIMPLE, args=["a laptop"])
    wait_id = await open_wait(desk.executor, eid, "decision")
    text = '{"approved": false, "comments": "\\ud800"}'
    response = await ann.submit(eid, wait_id, {"_mode": "json", "_json": text})
    assert response.status_code == 422
    alert = parse(response).find(string=lambda s: "not valid Unicode text" in s)
    assert alert is not None, response.text[:2000]
    assert await desk.executor.signals_of(eid) == []
    assert (await ann.get(f"/executions/{eid}")).status_code == 200


async def test_a_start_form_refuses_a_lone_surrogate_and_starts_nothing(
    app: Any, ann: Browser
) -> None:
    desk: Desk = app.state.desk
    soup = await ann.page(f"/start/{SIMPLE}")
    token = soup.find("input", attrs={"name": "csrf_token"})["value"]
    fields = {"csrf_token": token, "_mode": "json", "_json": '{"subject": "\\ud800"}'}
    response = await ann.client.post(f"/start/{SIMPLE}", data=fields)
    assert response.status_code == 422
    assert parse(response).find(string=lambda s: "not valid Unicode text" in s) is not None
    assert (await desk.executor.list_executions()).items == []


async def test_the_executor_itself_refuses_text_that_is_not_unicode(app: Any) -> None:
    executor: Stent = app.state.desk.executor
    eid = await executor.start_execution(SIMPLE, args=["a laptop"])
    await open_wait(executor, eid, "decision")
    with pytest.raises(SignalValidationError) as refused:
        await executor.send_signal(eid, "decision", {"approved": True, "comments": LONE})
    assert list(refused.value.errors) == ["comments"]
    with pytest.raises(SignalValidationError) as key_refused:
        await executor.send_signal(eid, "decision", {"approved": True, LONE: "x"})
    assert "a name in it" in key_refused.value.errors[""][0]
    with pytest.raises(NotSerializable) as not_started:
        await executor.start_execution(SIMPLE, args=[LONE])
    assert list(not_started.value.errors) == ["args/0"]
    assert await executor.signals_of(eid) == []
    assert len((await executor.list_executions()).items) == 1
    # Text outside the BMP is text: it is stored and read back as it was sent.
    receipt = await executor.send_signal(eid, "decision", {"approved": True, "comments": "🚀 ✓"})
    assert receipt.seq == 1
    assert (await executor.wait_for(eid, timeout=30)).unwrap()["comments"] == "🚀 ✓"


# ------------------------------------------------------------------- JSON nested too deeply
@pytest.mark.parametrize("kind", ["arrays", "objects", "mixed"])
async def test_json_nested_ten_thousand_deep_is_a_clear_422(
    app: Any, anonymous: Browser, kind: str
) -> None:
    headers = await api_token(anonymous)
    desk, eid = await start(app, ORDER, "o-2")
    await open_wait(desk.executor, eid, "payment")
    for depth in (10_000, 150):  # past the parser's own limit, and past the executor's
        response = await anonymous.client.post(
            URL.format(eid, "payment"),
            content=nested(depth, kind),
            headers={**headers, "Content-Type": "application/json"},
        )
        problem = assert_problem(response, 422)
        assert problem["errors"] == {"": ["it is nested more than 100 levels deep"]}, problem
    assert await desk.executor.signals_of(eid) == []


async def test_the_executor_refuses_values_nested_too_deeply(app: Any) -> None:
    executor: Stent = app.state.desk.executor
    eid = await executor.start_execution(ORDER, args=["o-3"])
    await open_wait(executor, eid, "payment")
    deep = json.loads(nested(101, "arrays"))
    with pytest.raises(SignalValidationError) as refused:
        await executor.send_signal(eid, "anything", deep)
    assert refused.value.errors == {"": ["it is nested more than 100 levels deep"]}
    assert (await executor.send_signal(eid, "anything", json.loads(nested(99, "arrays")))).seq


# ------------------------------------------------------------------- bodies that are not JSON
@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/json; charset=latin-1",
        None,
    ],
)
async def test_the_api_takes_only_json_bodies(
    app: Any, anonymous: Browser, content_type: str | None
) -> None:
    headers = await api_token(anonymous)
    desk, eid = await start(app, ORDER, "o-4")
    await open_wait(desk.executor, eid, "payment")
    sent = {**headers, **({"Content-Type": content_type} if content_type else {})}
    response = await anonymous.client.post(
        URL.format(eid, "payment"), content=b'{"amount": 5}', headers=sent
    )
    problem = assert_problem(response, 415)
    assert "application/json" in problem["detail"]
    assert response.headers["accept-post"] == "application/json"
    assert await desk.executor.signals_of(eid) == []


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=UTF-8", "application/vnd.acme.payment+json"]
)
async def test_json_media_types_with_parameters_are_accepted(
    app: Any, anonymous: Browser, content_type: str
) -> None:
    headers = await api_token(anonymous)
    desk, eid = await start(app, ORDER, "o-5")
    await open_wait(desk.executor, eid, "payment")
    response = await anonymous.client.post(
        URL.format(eid, "payment"),
        content=b'{"amount": 5}',
        headers={**headers, "Content-Type": content_type},
    )
    assert response.status_code == 202, response.text
    assert [s.payload for s in await desk.executor.signals_of(eid)] == [{"amount": 5}]


@pytest.mark.parametrize("body", [b"NaN", b'{"amount": Infinity}', b"\xff\xfe{}"])
async def test_json_extensions_and_other_encodings_are_malformed(
    app: Any, anonymous: Browser, body: bytes
) -> None:
    headers = await api_token(anonymous)
    desk, eid = await start(app, ORDER, "o-6")
    response = await anonymous.client.post(
        URL.format(eid, "payment"),
        content=body,
        headers={**headers, "Content-Type": "application/json"},
    )
    assert_problem(response, 400)
    assert await desk.executor.signals_of(eid) == []


# ------------------------------------------------------------------- values stored earlier
async def store_lone_surrogates(db_url: str, eid: str) -> None:
    """Write lone surrogates where an older version (or another program) could have:
    JSON-encoded columns (a signal's payload and sender, an execution's arguments and
    result), where ``\\ud800`` is an escape; plain text columns cannot hold one at all."""
    escaped = json.dumps({"approved": True, "comments": LONE})  # "\\ud800" in ASCII JSON
    sender = json.dumps({"name": f"Ann {LONE}", "email": "ann@example.com"})
    engine = create_async_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.update(signals)
                .where(signals.c.execution_id == eid)
                .values(payload=escaped, sender=sender)
            )
            await conn.execute(
                sa.update(executions)
                .where(executions.c.id == eid)
                .values(
                    arguments=json.dumps({"args": [f"laptop {LONE}"], "kwargs": {}}),
                    result=json.dumps({"kind": "value", "value": {"ok": LONE}}),
                )
            )
    finally:
        await engine.dispose()


async def test_values_stored_before_the_rule_still_render_everywhere(
    app: Any, ann: Browser, anonymous: Browser, db_url: str
) -> None:
    desk: Desk = app.state.desk
    auditor = await anonymous.login("Aud Itor", "audit@example.com", "stent-auditors")
    assert auditor.status_code == 303
    done = await desk.executor.start_execution(SIMPLE, args=["laptop"])
    wait_id = await open_wait(desk.executor, done, "decision")
    answered = await ann.submit(done, wait_id, {"f.approved": "true"})
    assert answered.status_code == 200, answered.text[:500]
    await desk.executor.wait_for(done, timeout=30)
    waiting = await desk.executor.start_execution(SIMPLE, args=["chair"])
    await open_wait(desk.executor, waiting, "decision")
    await store_lone_surrogates(str(db_url), done)
    await store_lone_surrogates(str(db_url), waiting)
    for browser in (ann, anonymous):
        for url in (f"/executions/{done}", f"/executions/{waiting}", "/", "/?state=all"):
            response = await browser.get(url)
            assert response.status_code == 200, (url, response.text[:500])
    page = await ann.get(f"/executions/{done}")
    assert "\ufffd" in page.text
    assert isinstance(page, httpx.Response)


# ------------------------------------------------------------------- NUL, which no column holds
async def test_a_nul_in_an_address_is_a_400_and_in_a_form_a_422(app: Any, ann: Browser) -> None:
    for url in ("/executions/a%00b", "/?workflow=%00", "/api/executions/a%00/signals/x"):
        response = await ann.get(url)
        assert response.status_code == 400, url
        assert "NUL" in response.text
    desk: Desk = app.state.desk
    eid = await desk.executor.start_execution(SIMPLE, args=["a laptop"])
    wait_id = await open_wait(desk.executor, eid, "decision")
    response = await ann.submit(eid, wait_id, {"f.approved": "true", "f.comments": "a\x00b"})
    assert response.status_code == 422 and "NUL" in parse(response).get_text()
    assert await desk.executor.signals_of(eid) == []


async def test_a_nul_in_a_start_argument_is_kept_in_the_value_and_shown_in_words(
    app: Any, ann: Browser
) -> None:
    soup = await ann.page(f"/start/{SIMPLE}")
    token = soup.find("input", attrs={"name": "csrf_token"})["value"]
    fields = {"csrf_token": token, "_mode": "json", "_json": '{"subject": "a\\u0000b"}'}
    response = await ann.client.post(f"/start/{SIMPLE}", data=fields)
    assert response.status_code == 303, response.text[:500]
    eid = response.headers["location"].rsplit("/", 1)[1]
    state = await app.state.desk.executor.state_of(eid)
    assert state.subject == "a\ufffdb"  # the subject is words for lists
    assert (await ann.get(f"/executions/{eid}")).status_code == 200


async def test_the_executor_answers_ids_names_and_keys_holding_a_nul(app: Any) -> None:
    executor: Stent = app.state.desk.executor
    with pytest.raises(ExecutionNotFound):
        await executor.state_of("a\x00b")
    eid = await executor.start_execution(SIMPLE, args=["x"])
    with pytest.raises(SignalValidationError):
        await executor.send_signal(eid, "deci\x00sion", {"approved": True})
    with pytest.raises(SignalValidationError):
        await executor.send_signal(eid, "decision", {"approved": True}, idempotency_key="k\x00")
    assert await executor.signals_of(eid) == []
