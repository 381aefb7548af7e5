"""Login: every page but the login page needs a user; the development login.

Single sign-on (OpenID Connect) is in ``sso``; ``make run`` also offers a development
login where anyone picks a name, email and groups. It is refused outside development
mode. Sessions are kept on the server and end at logout, when an administrator revokes
them, or after the idle and absolute timeouts (``session``).
"""

from __future__ import annotations

import hashlib
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from . import session
from .htmx import is_htmx, redirect
from .identity import User
from .security import csrf_token, verified_form
from .state import desk

# /api/ authenticates each request by its bearer token (``api``), never by a session.
PUBLIC_PREFIXES = ("/login", "/auth/", "/static/", "/healthz", "/favicon.ico", "/api/")


def safe_next(target: str | None) -> str:
    """A local path to go to after login; anything else (another host, //x) becomes /."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return "/"
    return target


class RequireLogin:
    """Sends anonymous requests, and expired sessions, to the login page (htmx ones
    through ``HX-Redirect``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if await session.active_user(request) is not None:
            await self.app(scope, receive, send)
            return
        here = scope["path"] + (
            f"?{scope['query_string'].decode()}" if scope["query_string"] else ""
        )
        login = f"/login?next={quote(here, safe='')}"
        response: Response = RedirectResponse(login, status_code=303)
        if is_htmx(request):
            response = redirect(Response(status_code=204), login)
        await response(scope, receive, send)


async def login_page(request: Request) -> Response:
    """GET /login: single sign-on and the development login, whichever are on."""
    the = desk(request)
    return the.templates.TemplateResponse(
        request,
        "auth/login.html",
        {
            "enabled": the.settings.development_login,
            "sso": the.settings.sso_enabled,
            "expired": session.take_expired(request),
            "next": safe_next(request.query_params.get("next")),
            "csrf_token": csrf_token(request),
            "errors": {},
            "values": {},
        },
    )


async def login(request: Request) -> Response:
    """POST /login: start a session as the person described in the form."""
    the = desk(request)
    form = await verified_form(request)
    next_url = safe_next(str(form.get("next") or "/"))
    values = {k: str(form.get(k) or "").strip() for k in ("name", "email", "groups")}
    errors = {}
    if not the.settings.development_login:
        errors["form"] = "The development login is off."
    if "@" not in values["email"]:
        errors["email"] = "Enter an email address."
    if not values["name"]:
        errors["name"] = "Enter your name."
    if errors:
        return the.templates.TemplateResponse(
            request,
            "auth/login.html",
            {
                "enabled": the.settings.development_login,
                "sso": the.settings.sso_enabled,
                "next": next_url,
                "csrf_token": csrf_token(request),
                "errors": errors,
                "values": values,
            },
            status_code=422 if the.settings.development_login else 403,
        )
    groups = tuple(g.strip() for g in values["groups"].split(",") if g.strip())
    subject = "dev:" + hashlib.sha256(values["email"].lower().encode()).hexdigest()[:16]
    await session.start(
        request, User(subject, values["email"], values["name"], groups, "development")
    )
    return RedirectResponse(next_url, status_code=303)
