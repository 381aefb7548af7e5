"""The only place an exception becomes a page (or, under ``/api/``, a problem document):
clear words, never a traceback."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from .problems import Problem, is_api, problem_response
from .security import CsrfError
from .state import desk

log = logging.getLogger("stent.web")

MESSAGES = {
    400: "The request could not be understood.",
    403: "You may not do that.",
    404: "There is nothing here.",
    405: "That is not allowed here.",
    413: "That request is too large.",
}


def _page(request: Request, status: int, message: str) -> Response:
    if is_api(request.url.path):
        return problem_response(Problem(status, message))
    try:
        return desk(request).templates.TemplateResponse(
            request, "errors/page.html", {"status": status, "message": message}, status_code=status
        )
    except Exception:  # the error page itself failed: words, still, never a traceback
        log.exception("the error page for %s could not be rendered", status)
        return PlainTextResponse(f"Error {status}: {message}", status_code=status)


async def http_error(request: Request, exc: Exception) -> Response:
    """HTTPException -> an error page with its own message."""
    assert isinstance(exc, HTTPException)
    if is_api(request.url.path):
        return problem_response(
            Problem(
                exc.status_code,
                exc.detail or MESSAGES.get(exc.status_code, ""),
                headers=dict(exc.headers or {}),
            )
        )
    return _page(request, exc.status_code, exc.detail or MESSAGES.get(exc.status_code, ""))


async def problem_error(request: Request, exc: Exception) -> Response:
    """An API error -> ``application/problem+json``."""
    assert isinstance(exc, Problem)
    return problem_response(exc)


async def csrf_error(request: Request, exc: Exception) -> Response:
    """A form without the session's CSRF token (an old tab after logging out, or forged)."""
    return _page(request, 403, "This form has expired. Reload the page and try again.")


async def server_error(request: Request, exc: Exception) -> Response:
    """Anything unexpected: logged with its traceback, shown without it."""
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _page(request, 500, "Something went wrong on our side; it has been logged.")


HANDLERS = {
    HTTPException: http_error,
    Problem: problem_error,
    CsrfError: csrf_error,
    Exception: server_error,
}
