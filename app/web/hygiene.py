"""Requests whose URL holds a NUL character are refused before any view sees them.

No id, name or filter of ours contains one, PostgreSQL's text cannot hold one, and a NUL
that reached a query would be a database error (a 500) instead of a clear answer.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import http_error

NUL_IN_URL = "The address holds a NUL character (%00), which no page or API accepts."


def has_nul(scope: Scope) -> bool:
    """Whether the request's path or query string holds a NUL, raw or percent-encoded."""
    query: bytes = scope.get("query_string", b"")
    return "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query


class RefuseNul:
    """400 (a page, or a problem under ``/api/``) for a URL holding a NUL."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not has_nul(scope):
            await self.app(scope, receive, send)
            return
        response = await http_error(Request(scope, receive), HTTPException(400, NUL_IN_URL))
        await response(scope, receive, send)
