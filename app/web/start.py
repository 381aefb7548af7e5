"""Starting a workflow from the browser, with a form generated from its signature."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.engine import DurableFunction, NotSerializable, Stent
from app.engine.schemas import parameters_schema

from .forms import Form, build_form, parse_submission
from .identity import current_user, sender_of
from .security import csrf_token, verified_form
from .state import desk


def _workflow(request: Request) -> DurableFunction:
    name = request.path_params["workflow"]
    durable = Stent.registered().get(name)
    if durable is None or name not in desk(request).workflows:
        raise HTTPException(404, "No such workflow.")
    return durable


def _form(durable: DurableFunction) -> Form:
    try:
        return build_form(parameters_schema(durable.fn), server_fields=frozenset())
    except TypeError:  # a signature no form can fill: a JSON editor of the arguments
        return build_form(True, server_fields=frozenset())


async def start_index(request: Request) -> Response:
    """GET /start: the workflows a person can start."""
    the = desk(request)
    workflows = [Stent.registered()[name] for name in the.workflows]
    return the.templates.TemplateResponse(request, "start/index.html", {"workflows": workflows})


async def start_form(request: Request) -> Response:
    """GET /start/{workflow}: the form of the workflow's parameters."""
    durable = _workflow(request)
    return _render(request, durable, {}, {}, 200)


def _render(
    request: Request,
    durable: DurableFunction,
    values: dict[str, Any],
    errors: dict[str, list[str]],
    status_code: int,
) -> Response:
    return desk(request).templates.TemplateResponse(
        request,
        "start/form.html",
        {
            "workflow": durable,
            "form": _form(durable),
            "values": values,
            "errors": errors,
            "csrf_token": csrf_token(request),
        },
        status_code=status_code,
    )


async def start(request: Request) -> Response:
    """POST /start/{workflow}: start it with the submitted arguments, as its initiator."""
    durable = _workflow(request)
    form_data = await verified_form(request)
    user = current_user(request)
    assert user is not None  # RequireLogin
    submission = parse_submission(_form(durable), form_data, server_values={})
    if submission.errors or submission.action or not isinstance(submission.payload, dict):
        errors = submission.errors or (
            {} if submission.action else {"": ["Arguments must be an object."]}
        )
        return _render(request, durable, submission.values, errors, 422 if errors else 200)
    try:
        eid = await desk(request).executor.start_execution(
            durable, kwargs=submission.payload, initiator=sender_of(request, user)
        )
    except NotSerializable as exc:  # text that is not Unicode, nesting too deep
        return _render(request, durable, submission.values, _argument_errors(exc), 422)
    return RedirectResponse(f"/executions/{eid}", status_code=303)


def _argument_errors(exc: NotSerializable) -> dict[str, list[str]]:
    """The executor's errors by field of the form (it stores the arguments as
    ``{"args": [], "kwargs": {...}}``; the form fills ``kwargs``)."""
    errors: dict[str, list[str]] = {}
    for path, messages in exc.errors.items():
        field = path.removeprefix("kwargs").removeprefix("/")
        errors.setdefault(field, []).extend(messages)
    return errors
