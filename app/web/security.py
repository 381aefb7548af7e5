"""CSRF tokens bound to the session, and the security headers of every response.

A synchronizer token in the signed session (rather than a double-submit cookie from
asgi-csrf/starlette-csrf) because every page already has a session, and because forms
must work without JavaScript: the token travels as a hidden field, or as the
``X-CSRF-Token`` header that htmx requests add.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
MAX_FORM_FIELDS = 2000
MAX_FORM_BYTES = 1024 * 1024


class CsrfError(Exception):
    """A state-changing request without the session's CSRF token."""


def csrf_token(request: Request) -> str:
    """The session's CSRF token (created on first use)."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def verified_form(request: Request) -> FormData:
    """The posted form, once its CSRF token matches the session's; else ``CsrfError``."""
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_FORM_BYTES)
    sent = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
    expected = request.session.get("csrf")
    if (
        not isinstance(sent, str)
        or not isinstance(expected, str)
        or not (secrets.compare_digest(sent, expected))
    ):
        raise CsrfError("missing or wrong CSRF token")
    if any("\x00" in key or "\x00" in str(value) for key, value in form.multi_items()):
        # no field takes one (JSON text cannot hold a raw NUL either); no column stores one
        raise HTTPException(422, "The form holds a NUL character, which no field accepts.")
    return form


CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeaders:
    """Adds a strict Content-Security-Policy and friends to every HTTP response."""

    def __init__(self, app: ASGIApp, headers: list[tuple[bytes, bytes]]) -> None:
        self.app = app
        self.headers = headers

    @staticmethod
    def policy(form_action: Sequence[str] = ()) -> list[tuple[bytes, bytes]]:
        """The headers of every response.

        ``form_action``: more origins a form may lead to. Browsers apply ``form-action``
        to the redirects after a submission too, so logging out (a form) cannot end at
        the single sign-on provider's logout page unless its origin is listed.
        """
        policy = CONTENT_SECURITY_POLICY.replace(
            "form-action 'self'", " ".join(("form-action 'self'", *form_action))
        )
        return [(b"content-security-policy", policy.encode()), *HEADERS]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                sent = list(message.get("headers", []))
                names = {name.lower() for name, _ in sent}
                message["headers"] = sent + [h for h in self.headers if h[0] not in names]
            await send(message)

        await self.app(scope, receive, send_with_headers)
