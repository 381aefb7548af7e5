"""``create_app``: the only place the dashboard's parts are wired together."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from app.engine import Stent
from app.settings import Settings

from . import admin, admin_sessions, api, auth, errors, executions, inbox, sso, start
from .hygiene import RefuseNul
from .ratelimit import LimitRequests, RateLimiter, counting_engine
from .security import SecurityHeaders
from .sessions import SessionStore
from .state import Desk
from .templating import make_templates
from .tokens import TokenStore
from .users import UserStore

STATIC = Path(__file__).resolve().parents[2] / "static"
SESSION_COOKIE = "stent_desk_session"
# Every way to log in counts against the login rate limit of the client's address.
LOGIN_ROUTES = (("POST", "/login"), ("GET", "/login/sso"), ("GET", "/auth/callback"))


def load_workflows(modules: tuple[str, ...]) -> tuple[str, ...]:
    """Import the workflow modules; the registered names of the workflows they define."""
    names: list[str] = []
    for module in modules:
        importlib.import_module(module)
        names += [
            name for name, durable in Stent.registered().items() if durable.fn.__module__ == module
        ]
    return tuple(names)


def make_executor(settings: Settings) -> Stent:
    """The executor the app runs in-process, configured from settings."""
    return Stent(
        settings.database_url,
        max_signal_bytes=settings.max_signal_bytes,
        sqlite_synchronous=settings.sqlite_synchronous,
        lease_seconds=settings.lease_seconds,
        pool_size=settings.database_pool_size,
    )


async def healthz(request: Request) -> Response:
    """GET /healthz: the process is up."""
    return PlainTextResponse("ok")


async def favicon(request: Request) -> Response:
    """GET /favicon.ico: browsers ask for it whatever the page links; send them the icon."""
    return RedirectResponse("/static/favicon.svg", status_code=301)


def routes() -> list[Route | Mount]:
    """Every URL of the dashboard."""
    return [
        Route("/", inbox.inbox, methods=["GET"], name="inbox"),
        Route("/login", auth.login_page, methods=["GET"], name="login"),
        Route("/login", auth.login, methods=["POST"]),
        Route("/login/sso", sso.login_sso, methods=["GET"], name="login_sso"),
        Route("/auth/callback", sso.auth_callback, methods=["GET"], name="auth_callback"),
        Route("/logout", sso.logout, methods=["POST"], name="logout"),
        Route(
            "/executions/{execution_id}",
            executions.execution_page,
            methods=["GET"],
            name="execution",
        ),
        Route(
            "/executions/{execution_id}/waits/{wait_id}",
            executions.answer,
            methods=["POST"],
            name="answer",
        ),
        Route("/start", start.start_index, methods=["GET"], name="start"),
        Route("/start/{workflow}", start.start_form, methods=["GET"], name="start_form"),
        Route("/start/{workflow}", start.start, methods=["POST"]),
        Route("/admin/tokens", admin.tokens_page, methods=["GET"], name="admin_tokens"),
        Route("/admin/tokens", admin.create_token, methods=["POST"]),
        Route(
            "/admin/tokens/{token_id}/revoke",
            admin.revoke_token,
            methods=["POST"],
            name="revoke_token",
        ),
        Route(
            "/admin/sessions",
            admin_sessions.sessions_page,
            methods=["GET"],
            name="admin_sessions",
        ),
        Route(
            "/admin/sessions/revoke",
            admin_sessions.revoke_sessions,
            methods=["POST"],
            name="revoke_sessions",
        ),
        Route(
            "/api/executions/{execution_id}/signals/{name}",
            api.send_signal,
            methods=["POST"],
            name="api_send_signal",
        ),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/favicon.ico", favicon, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]


class DeskApp(Starlette):
    """The dashboard's Starlette app, with the security headers outside everything else.

    A middleware given to Starlette runs inside its ``ServerErrorMiddleware``, so the 500
    page would leave without them; wrapping the whole stack puts them on every response,
    errors included.
    """

    def __init__(self, headers: list[tuple[bytes, bytes]], **options: Any) -> None:
        super().__init__(**options)
        self.security_headers = headers

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack(), self.security_headers)


def create_app(settings: Settings, executor: Stent | None = None) -> Starlette:
    """The dashboard for ``settings``; it opens (and closes) the executor in its lifespan.

    ``ValueError`` listing every problem when the settings are unfit to serve
    (``Settings.problems``: in production, the development login, a weak secret key or
    cookies without Secure).
    """
    settings.check()
    running = executor or make_executor(settings)
    users = UserStore(settings.database_url)
    # Rate limits are counted in the database, so every copy of the app shares them.
    counts = counting_engine(settings.database_url)
    the = Desk(settings, running, make_templates(), load_workflows(settings.workflow_modules))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with running:
            try:
                yield
            finally:
                await users.close()
                await counts.dispose()

    middleware = [
        Middleware(
            SessionMiddleware,
            secret_key=settings.secret_key,
            session_cookie=SESSION_COOKIE,
            same_site="lax",
            https_only=settings.secure_cookies,
            max_age=settings.session_absolute_timeout,
        ),
        Middleware(
            LimitRequests,
            routes=LOGIN_ROUTES,
            limiter=RateLimiter(settings.login_rate_limit, "login", counts, running.clock),
        ),
        Middleware(RefuseNul),
        Middleware(auth.RequireLogin),
    ]
    app = DeskApp(
        SecurityHeaders.policy(sso.form_action_origins(settings)),
        routes=routes(),
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers=errors.HANDLERS,
    )
    app.state.desk = the
    app.state.sso = sso.make_client(settings)  # None when single sign-on is off
    app.state.users = users
    app.state.tokens = TokenStore(users.engine)  # shares the users' pool (closed with it)
    app.state.sessions = SessionStore(users.engine)  # so do sessions
    app.state.api_limiter = RateLimiter(settings.api_rate_limit, "api", counts, running.clock)
    return app
