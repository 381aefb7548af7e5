"""No posted form, however malformed, makes the answer endpoint fail with a 500."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web_helpers import Browser, open_wait

from app.web.state import Desk
from workflows.approval import approval_workflow
from workflows.purchase_approval import purchase_approval

KEYS = st.one_of(
    st.sampled_from(
        [
            "f.approved",
            "f.reason",
            "f.approver",
            "f.timestamp",
            "_mode",
            "_json",
            "_action",
            "f",
            "f.",
            "f..x",
            "f.items.0",
            "idempotency_key",
        ]
    ),
    st.text(max_size=20),
)
VALUES = st.one_of(
    st.sampled_from(["true", "false", "on", "", "json", "add:items", "{}", "[1,", "null", "1e999"]),
    st.text(max_size=200),
)
FORMS = st.lists(st.tuples(KEYS, VALUES), max_size=12)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=FORMS)
def test_random_answers_get_a_page_never_a_server_error(
    app: Any, ann: Browser, data: list[tuple[str, str]]
) -> None:
    desk: Desk = app.state.desk

    async def post() -> int:
        eid = await desk.executor.dispatch(approval_workflow, "fuzz")
        wait_id = await open_wait(desk.executor, eid, "approval")
        action, fields = await ann.wait_form(eid, wait_id)
        keep = {k: v for k, v in fields.items() if k == "csrf_token"}
        body = urlencode(list(keep.items()) + data)
        response = await ann.client.post(
            action,
            content=body,
            headers={"HX-Request": "true", "content-type": "application/x-www-form-urlencoded"},
        )
        return response.status_code

    status = asyncio.get_event_loop().run_until_complete(post())
    assert status in (200, 409, 422), status


async def test_a_json_mode_answer_with_garbage_is_a_field_error(app: Any, ann: Browser):
    desk: Desk = app.state.desk
    eid = await desk.executor.dispatch(purchase_approval, {"item": "desk", "amount": 5})
    wait_id = await open_wait(desk.executor, eid, "approval_response")
    response = await ann.submit(eid, wait_id, {"_mode": "json", "_json": "{not json"})
    assert response.status_code == 422
    assert await desk.executor.signals_of(eid) == []
