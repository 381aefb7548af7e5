"""The JSON API of machine senders (webhooks, other services), authenticated by API token.

``POST /api/executions/{id}/signals/{name}`` with ``Authorization: Bearer sdk_...``, any
JSON value as the body (``Content-Type: application/json``) and an optional
``Idempotency-Key``. It answers the oldest open
wait of that name on the execution, or (none open) buffers the signal for the wait to
come; either only within the token's scopes. No session and no CSRF token: the bearer
token is the credential. Errors are ``application/problem+json`` (``problems``).
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.engine import (
    ExecutionFinished,
    ExecutionNotFound,
    IdempotencyKeyConflict,
    SignalValidationError,
    WaitClosed,
)

from .answers import NotAllowed, send_as_token
from .jsonbody import json_body
from .problems import Problem
from .ratelimit import RateLimiter, client_address
from .state import desk
from .tokens import Token, token_store

PATH = "api"
MAX_IDEMPOTENCY_KEY = 200
UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="stent-desk"'}


def api_limiter(request: Request) -> RateLimiter:
    """The application's per-address limiter of API requests."""
    limiter: RateLimiter = request.app.state.api_limiter
    return limiter


async def _limit(request: Request) -> None:
    verdict = await api_limiter(request).hit(client_address(request))
    if not verdict.allowed:
        raise Problem(
            429,
            "Too many requests from your address; retry later.",
            headers={"Retry-After": str(verdict.retry_after)},
        )


async def _token(request: Request) -> Token:
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Problem(
            401, "Send an API token as 'Authorization: Bearer <token>'.", headers=UNAUTHORIZED
        )
    token = await token_store(request).verify(secret.strip(), time.time())
    if token is None:
        raise Problem(401, "The API token is unknown or revoked.", headers=UNAUTHORIZED)
    return token


async def send_signal(request: Request) -> Response:
    """POST /api/executions/{id}/signals/{name}: send a signal as the token."""
    await _limit(request)
    token = await _token(request)
    the = desk(request)
    eid, name = request.path_params["execution_id"], request.path_params["name"]
    payload = await json_body(request, the.settings.max_signal_bytes)
    key = request.headers.get("idempotency-key") or None
    if key is not None and len(key) > MAX_IDEMPOTENCY_KEY:
        raise Problem(400, f"The Idempotency-Key is longer than {MAX_IDEMPOTENCY_KEY} characters.")
    try:
        state = await the.executor.state_of(eid)
    except ExecutionNotFound as exc:
        raise Problem(404, f"No execution {eid!r}.") from exc
    wait = min(
        (w for w in state.waiting_on if w.name == name),
        key=lambda w: (w.since, w.wait_id),
        default=None,
    )
    try:
        receipt = await send_as_token(
            the, request, token, eid, state.workflow, name, wait, payload, key, PATH
        )
    except NotAllowed as exc:
        raise Problem(403, exc.decision.reason) from exc
    except ExecutionFinished as exc:
        raise Problem(
            409,
            f"The execution is {exc.state}; it accepts no signal.",
            title="Execution finished",
            state=exc.state,
        ) from exc
    except WaitClosed as exc:
        raise Problem(
            409,
            f"The {exc.name!r} wait is closed: {exc.status}.",
            title="Wait closed",
            wait_id=exc.wait_id,
            wait_status=exc.status,
        ) from exc
    except IdempotencyKeyConflict as exc:
        raise Problem(
            422,
            "This Idempotency-Key was already used with another payload.",
            title="Idempotency key reused",
        ) from exc
    except SignalValidationError as exc:
        raise Problem(422, str(exc), title="Invalid payload", errors=exc.errors) from exc
    return JSONResponse(
        {
            "signal_id": receipt.signal_id,
            "seq": receipt.seq,
            "duplicate": receipt.duplicate,
            "consumed_by_step": receipt.consumed_by_step,
        },
        status_code=202,
    )
