"""Arbitrary Unicode through every way text comes in (form fields, the JSON editor, a
start form, the API's body, its URL): never a 500, and never a stored value that a page
cannot render afterwards.

Text is drawn from all of Unicode, with what breaks programs over-represented: lone
surrogates (as JSON escapes, and as the bytes a broken client would send for them), NUL,
right-to-left and other invisible marks, a byte-order mark, and strings of 1 MB.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from test_api_tokens import SIMPLE, as_admin, bearer, create_token
from web_helpers import Browser, open_wait

from app.engine import Stent
from app.web.state import Desk

TRICKY = ["\x00", "\u200f", "\u202e", "\u2066", "\ufeff", "\ud800", "\udfff", "\U0001f680", "\r"]
SPECIAL = st.sampled_from(TRICKY)
CHARS = st.one_of(st.characters(), st.characters(categories=["Cs"]), SPECIAL)
TEXT = st.one_of(
    st.text(CHARS, max_size=40), st.lists(SPECIAL, min_size=1, max_size=6).map("".join)
)
# Drawn as a name, grown to 1 MB in the test (a drawn 1 MB string would be printed whole).
BIG = st.sampled_from(["", "x", "\u202e", "\x00"])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=8,
)
FUZZ = settings(
    max_examples=25,
    deadline=None,
    # Each example is a few HTTP round trips: shrinking a failure would take many minutes,
    # and the failing example is reported as drawn.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
FAILURES = {500, 502, 503}


@Stent.durable()
async def collect_events(subject: str) -> None:
    """Takes any JSON as its "event" signals, forever: every stored one shows on its page."""
    while True:
        await Stent.wait_for_signal("event")


def grown(text: str, big: str) -> str:
    """``text``, followed by ``big`` repeated to 1 MB when ``big`` is not empty."""
    return text + big * (1_000_000 // len(big.encode())) if big else text


def quoted(text: str) -> str:
    """Percent-encoded as a browser would, except that a lone surrogate goes out as the
    three bytes a careless encoder writes for it (not UTF-8: the server must cope)."""
    return quote(text.encode("utf-8", "surrogatepass"))


def form_bytes(pairs: list[tuple[str, str]]) -> bytes:
    return "&".join(f"{quoted(k)}={quoted(v)}" for k, v in pairs).encode()


_collectors: dict[int, tuple[dict[str, str], str]] = {}


async def collector(app: Any, admin: Browser) -> tuple[dict[str, str], str]:
    """An API token and a ``collect_events`` execution, made once per app (hypothesis runs
    every example on the test's one app)."""
    if id(app) not in _collectors:
        token = bearer(await create_token(await as_admin(admin), "fuzz"))
        eid = await app.state.desk.executor.start_execution(collect_events, args=["x"])
        _collectors[id(app)] = (token, eid)
    return _collectors[id(app)]


def run(coroutine: Any) -> Any:
    return asyncio.get_event_loop().run_until_complete(coroutine)


async def renders(browser: Browser, eid: str) -> None:
    """The execution's page (and the inbox) still render, whatever was stored."""
    for url in (f"/executions/{eid}", "/"):
        response = await browser.get(url)
        assert response.status_code == 200, (url, response.status_code, response.text[:300])


async def csrf(browser: Browser, url: str) -> str:
    soup = await browser.page(url)
    return str(soup.find("input", attrs={"name": "csrf_token"})["value"])


@FUZZ
@given(comment=TEXT, editor=JSON_VALUES, raw=TEXT, big=BIG)
def test_any_text_in_an_answer_form_gets_a_page_and_the_page_still_renders(
    app: Any, ann: Browser, comment: str, editor: Any, raw: str, big: str
) -> None:
    desk: Desk = app.state.desk
    comment = grown(comment, big)

    async def answer() -> None:
        eid = await desk.executor.start_execution(SIMPLE, args=["fuzz"])
        wait_id = await open_wait(desk.executor, eid, "decision")
        action, fields = await ann.wait_form(eid, wait_id)
        token = [("csrf_token", fields["csrf_token"])]
        tries = [
            [*token, ("f.approved", "false"), ("f.comments", comment)],
            [*token, ("_mode", "json"), ("_json", json.dumps({"approved": True, "c": editor}))],
            [*token, ("_mode", "json"), ("_json", raw)],
            [*token, ("idempotency_key", raw[:128]), ("f.approved", "true")],
        ]
        for pairs in tries:
            response = await ann.client.post(
                action,
                content=form_bytes(pairs),
                headers={"HX-Request": "true", "content-type": "application/x-www-form-urlencoded"},
            )
            # 400: a field over 1 MiB, refused by the form reader with a sentence saying so
            assert response.status_code in (200, 400, 409, 422), response.text[:300]
        await renders(ann, eid)

    run(answer())


@FUZZ
@given(subject=TEXT, editor=JSON_VALUES, big=BIG)
def test_any_text_in_a_start_form_gets_a_page_and_the_page_still_renders(
    app: Any, ann: Browser, subject: str, editor: Any, big: str
) -> None:
    subject = grown(subject, big)

    async def start() -> None:
        token = [("csrf_token", await csrf(ann, f"/start/{SIMPLE}"))]
        for pairs in (
            [*token, ("f.subject", subject)],
            [*token, ("_mode", "json"), ("_json", json.dumps({"subject": editor}))],
        ):
            response = await ann.client.post(
                f"/start/{SIMPLE}",
                content=form_bytes(pairs),
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
            assert response.status_code in (303, 400, 422), response.text[:300]
            if response.status_code == 303:
                await renders(ann, response.headers["location"].rsplit("/", 1)[1])

    run(start())


@FUZZ
@given(value=JSON_VALUES, raw=st.binary(max_size=200), name=TEXT, key=TEXT, big=BIG)
def test_any_body_or_url_sent_to_the_api_is_answered_and_whatever_it_stored_renders(
    app: Any, anonymous: Browser, value: Any, raw: bytes, name: str, key: str, big: str
) -> None:
    desk: Desk = app.state.desk
    value = [value, grown("", big)] if big else value

    async def send() -> None:
        token, eid = await collector(app, anonymous)
        headers = {**token, "Content-Type": "application/json"}
        url = f"/api/executions/{eid}/signals/event"
        response = await anonymous.client.post(
            url, content=json.dumps(value).encode(), headers=headers
        )
        assert response.status_code in (202, 413, 422), response.text[:300]
        if response.status_code == 202:
            stored = [s.payload for s in await desk.executor.signals_of(eid)]
            assert stored[-1] == value
        response = await anonymous.client.post(url, content=raw, headers=headers)
        assert response.status_code in (202, 400, 413, 422), response.text[:300]
        odd = f"/api/executions/{quoted(name)}/signals/{quoted(name)}"
        response = await anonymous.client.post(odd, content=b"{}", headers=headers)
        # 400: a NUL in the URL; 404: no such execution
        assert response.status_code in (202, 400, 404, 422), response.text[:300]
        keyed = {**headers, "Idempotency-Key": quoted(key)[:300]}
        response = await anonymous.client.post(url, content=b"{}", headers=keyed)
        assert response.status_code in (202, 400, 422), response.text[:300]
        await renders(anonymous, eid)

    run(send())
