"""The execution page, and answering one of its open waits with the generated form."""

from __future__ import annotations

import secrets
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.engine import (
    ExecutionFinished,
    ExecutionNotFound,
    IdempotencyKeyConflict,
    SignalReceipt,
    SignalValidationError,
    WaitClosed,
    WaitInfo,
)

from . import htmx
from .answers import ClosedWait, NotAllowed, answer_of, answer_wait, authorize
from .authorization import is_admin, is_auditor, may_answer
from .forms import Form, build_form, parse_submission
from .identity import User, current_user, utc_now_iso
from .security import csrf_token, verified_form
from .state import desk


async def _open_wait(request: Request, eid: str, wait_id: int) -> WaitInfo | None:
    """The definition of the wait being answered: as the page showed it (``waits``), else
    read; None when the execution has no such open wait. Whether it is still open is for
    ``send_signal`` to say, in its write transaction."""
    the = desk(request)
    wait = the.waits.get(eid, wait_id)
    if wait is not None:
        return wait
    try:
        state = await the.executor.state_of(eid)
    except ExecutionNotFound as exc:
        raise HTTPException(404, "No such execution.") from exc
    wait = next((w for w in state.waiting_on if w.wait_id == wait_id), None)
    if wait is not None:
        the.waits.keep(wait)
    return wait


def wait_form(wait: WaitInfo) -> Form:
    """The form of a wait; element ids carry the wait's id so that two forms on one page
    stay apart."""
    return build_form(wait.schema, id_prefix=f"w{wait.wait_id}")


def wait_view(
    request: Request,
    wait: WaitInfo,
    user: User,
    values: dict[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """What ``executions/_wait.html`` renders for one open wait."""
    decision = may_answer(user, wait, desk(request).settings)
    return {
        "wait": wait,
        "form": wait_form(wait),
        "values": values or {},
        "errors": errors or {},
        "may_answer": decision.allowed,
        "why_not": decision.reason,
        "idempotency_key": secrets.token_urlsafe(16),
    }


async def execution_page(request: Request) -> Response:
    """GET /executions/{id}: inputs, state, timeline, open waits with their forms, result."""
    the = desk(request)
    eid = request.path_params["execution_id"]
    try:
        detail = await the.executor.execution_detail(eid)
    except ExecutionNotFound as exc:
        raise HTTPException(404, "No such execution.") from exc
    user = current_user(request)
    assert user is not None  # RequireLogin
    auditing = is_admin(user, the.settings) or is_auditor(user, the.settings)
    for wait in detail.state.waiting_on:
        the.waits.keep(wait)  # answering it then needs no read (``_open_wait``)
    context = {
        "state": detail.state,
        "steps": detail.steps,
        "signals": detail.signals,
        "waits": [wait_view(request, w, user) for w in detail.state.waiting_on],
        "refusals": detail.refusals if auditing else None,
        "notice": request.session.pop("notice", None),
        "csrf_token": csrf_token(request),
    }
    block = "state" if htmx.target(request) == "execution-state" else None
    return the.templates.TemplateResponse(
        request, "executions/page.html", context, block_name=block
    )


async def _closed(request: Request, eid: str, wait_id: int, key: str | None) -> Response:
    """The answer to a form whose wait is no longer open: the user's own earlier submit
    (a double-click, a resubmit) is a success; anyone else's is "already answered"."""
    signals = await desk(request).executor.signals_of(eid)
    answer = answer_of(signals, wait_id)
    if answer is not None and key is not None and answer.idempotency_key == key:
        receipt = SignalReceipt(answer.id, eid, answer.name, answer.seq, True, wait_id)
        return _render_outcome(request, eid, wait_id, {"receipt": receipt}, 200)
    closed = (
        ClosedWait("closed", None, None)
        if answer is None
        else ClosedWait("answered", answer.sender, answer.received_at)
    )
    return _render_outcome(request, eid, wait_id, {"closed": closed}, 409)


def _render_outcome(
    request: Request, eid: str, wait_id: int, context: dict[str, Any], status_code: int
) -> Response:
    the = desk(request)
    if htmx.is_htmx(request):
        response = the.templates.TemplateResponse(
            request,
            "executions/_outcome.html",
            {"wait_id": wait_id, "execution_id": eid, **context},
            status_code=status_code,
        )
        return htmx.trigger(response, "answered")
    request.session["notice"] = {"wait_id": wait_id, **_jsonable(context)}
    return RedirectResponse(f"/executions/{eid}", status_code=303)


def _jsonable(context: dict[str, Any]) -> dict[str, Any]:
    closed: ClosedWait | None = context.get("closed")
    receipt = context.get("receipt")
    return {
        "closed": None
        if closed is None
        else {
            "status": closed.status,
            "answered_by": closed.answered_by,
            "answered_at": closed.answered_at,
        },
        "receipt": None
        if receipt is None
        else {"seq": receipt.seq, "duplicate": receipt.duplicate},
    }


async def answer(request: Request) -> Response:
    """POST /executions/{id}/waits/{wait_id}: send the form as that wait's signal."""
    the = desk(request)
    eid, form_data = request.path_params["execution_id"], await verified_form(request)
    wait_id = _wait_id(request.path_params["wait_id"])
    user = current_user(request)
    assert user is not None  # RequireLogin
    key = str(form_data.get("idempotency_key") or "")[:128] or None
    wait = await _open_wait(request, eid, wait_id)
    if wait is None:
        return await _closed(request, eid, wait_id, key)
    try:
        await authorize(the, request, user, wait, "web_form")
    except NotAllowed as exc:
        raise HTTPException(403, f"You may not answer this request: {exc}.") from exc
    submission = parse_submission(
        wait_form(wait),
        form_data,
        server_values={"approver": user.email, "timestamp": utc_now_iso()},
    )
    if submission.errors or submission.action:
        return _form_again(
            request,
            wait,
            user,
            submission.values,
            submission.errors,
            422 if submission.errors else 200,
        )
    try:
        receipt = await answer_wait(the, request, user, wait, submission.payload, key, "web_form")
    except NotAllowed as exc:
        raise HTTPException(403, f"You may not answer this request: {exc}.") from exc
    except SignalValidationError as exc:
        return _form_again(request, wait, user, submission.values, exc.errors, 422)
    except IdempotencyKeyConflict:
        # This form was sent before (a double-click a second later: another timestamp).
        the.waits.forget(eid, wait_id)
        return await _closed(request, eid, wait_id, key)
    except WaitClosed as exc:
        the.waits.forget(eid, wait_id)
        closed = ClosedWait(exc.status, exc.answered_by, exc.answered_at)
        return _render_outcome(request, eid, wait_id, {"closed": closed}, 409)
    except ExecutionFinished as exc:
        the.waits.forget(eid, wait_id)
        closed = ClosedWait(f"closed: the execution is {exc.state}", None, None)
        return _render_outcome(request, eid, wait_id, {"closed": closed}, 409)
    the.waits.forget(eid, wait_id)
    return _render_outcome(
        request, eid, wait_id, {"receipt": receipt, "payload": submission.payload}, 200
    )


def _form_again(
    request: Request,
    wait: WaitInfo,
    user: User,
    values: dict[str, Any],
    errors: dict[str, list[str]],
    status_code: int,
) -> Response:
    the = desk(request)
    context = {**wait_view(request, wait, user, values, errors), "csrf_token": csrf_token(request)}
    if htmx.is_htmx(request):
        return the.templates.TemplateResponse(
            request, "executions/_wait.html", context, status_code=status_code
        )
    return the.templates.TemplateResponse(
        request, "executions/answer.html", context, status_code=status_code
    )


def _wait_id(raw: str) -> int:
    try:
        return int(raw)
    except ValueError as exc:
        raise HTTPException(404, "No such wait.") from exc
