"""Session lifetimes: a login starts a fresh session; idle and absolute timeouts end it.

The session lives in the signed cookie, so its times do too: ``login_at`` (never changes)
and ``seen_at`` (refreshed at most once a minute, so that an active page does not re-send
its cookie on every request). Times come from the executor's clock, which tests control.
"""

from __future__ import annotations

import logging

from starlette.requests import Request

from .identity import User, current_user
from .security import csrf_token
from .state import desk

LOGIN_AT = "login_at"
SEEN_AT = "seen_at"
EXPIRED = "expired"  # set in the emptied session, so the login page can say why
ID_TOKEN = "id_token"  # the provider's ID token: the hint its logout endpoint wants
SEEN_REFRESH_SECONDS = 60.0
log = logging.getLogger("stent.web")


def now(request: Request) -> float:
    """The application's time, in seconds since the epoch."""
    return desk(request).executor.clock()


def start(request: Request, user: User, id_token: str | None = None) -> None:
    """A fresh session for ``user``: nothing of the anonymous session carries over."""
    request.session.clear()
    request.session["user"] = user.to_session()
    request.session[LOGIN_AT] = request.session[SEEN_AT] = now(request)
    if id_token:
        request.session[ID_TOKEN] = id_token
    csrf_token(request)  # a new token, so a form of the anonymous page cannot be replayed


def active_user(request: Request) -> User | None:
    """The logged-in user while the session is fresh; an expired session is emptied."""
    user = current_user(request)
    if user is None:
        return None
    reason = _expiry(request)
    if reason is None:
        return user
    log.info("session of %s (%s) ended: %s", user.subject, user.auth_method, reason)
    request.session.clear()
    request.session[EXPIRED] = True
    return None


def _expiry(request: Request) -> str | None:
    """Why the session is over, or None (and then ``seen_at`` is kept current)."""
    settings = desk(request).settings
    login_at, seen_at = request.session.get(LOGIN_AT), request.session.get(SEEN_AT)
    if not isinstance(login_at, int | float) or not isinstance(seen_at, int | float):
        return "it has no login time"
    time = now(request)
    if time - login_at >= settings.session_absolute_timeout:
        return "absolute timeout"
    if time - seen_at >= settings.session_idle_timeout:
        return "idle timeout"
    if time - seen_at >= SEEN_REFRESH_SECONDS:
        request.session[SEEN_AT] = time
    return None


def end(request: Request) -> tuple[User | None, str | None]:
    """Empty the session; who it was and the ID token it kept (for the provider's logout)."""
    user = current_user(request)
    id_token = request.session.get(ID_TOKEN)
    request.session.clear()
    return user, id_token if isinstance(id_token, str) else None


def take_expired(request: Request) -> bool:
    """Whether the last session just expired (told once, on the login page)."""
    return bool(request.session.pop(EXPIRED, False))
