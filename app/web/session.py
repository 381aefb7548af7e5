"""Session lifetimes: a login opens a server-side session; logout, an administrator and
the idle and absolute timeouts end it.

The signed cookie holds who is logged in and the session's random id; the ``sessions``
row of that id (``sessions``) decides whether the cookie still opens anything, on every
process. Its ``last_seen_at`` is refreshed at most once a minute, so an active page costs
one read per request and no write; the cookie mirrors it (``seen_at``) and re-sends itself
then too. Times come from the executor's clock, which tests control.
"""

from __future__ import annotations

import logging

from starlette.requests import Request

from . import sessions
from .identity import User, current_user
from .security import csrf_token
from .sessions import SessionRecord, session_store
from .state import desk

SESSION_ID = "sid"  # the random id of the session's row
LOGIN_AT = "login_at"
SEEN_AT = "seen_at"
EXPIRED = "expired"  # set in the emptied session, so the login page can say why
ID_TOKEN = "id_token"  # the provider's ID token: the hint its logout endpoint wants
SEEN_REFRESH_SECONDS = 60.0
log = logging.getLogger("stent.web")


def now(request: Request) -> float:
    """The application's time, in seconds since the epoch."""
    return desk(request).executor.clock()


async def start(request: Request, user: User, id_token: str | None = None) -> None:
    """A fresh session for ``user``: nothing of the anonymous session carries over."""
    time = now(request)
    purge_before = time - desk(request).settings.session_absolute_timeout
    session_id = await session_store(request).open(user, time, purge_before)
    request.session.clear()
    request.session["user"] = user.to_session()
    request.session[SESSION_ID] = session_id
    request.session[LOGIN_AT] = request.session[SEEN_AT] = time
    if id_token:
        request.session[ID_TOKEN] = id_token
    csrf_token(request)  # a new token, so a form of the anonymous page cannot be replayed


async def active_user(request: Request) -> User | None:
    """The logged-in user while their session lives; an ended session is emptied."""
    user = current_user(request)
    if user is None:
        return None
    reason = await _ended(request, user)
    if reason is None:
        return user
    log.info("session of %s (%s) ended: %s", user.subject, user.auth_method, reason)
    request.session.clear()
    request.session[EXPIRED] = True
    return None


async def _ended(request: Request, user: User) -> str | None:
    """Why the session is over, or None (and then its last use is kept current)."""
    session_id = request.session.get(SESSION_ID)
    if not isinstance(session_id, str):
        return "it has no session id"
    store = session_store(request)
    record = await store.find(session_id)
    if record is None or record.subject != user.subject:
        return "no such session"
    if record.revoked_at is not None:
        return f"revoked ({record.revoked_reason})"
    time = now(request)
    reason = _timeout(request, record, time)
    if reason is not None:
        await store.end(session_id, time, reason)
        return reason
    if time - record.last_seen_at >= SEEN_REFRESH_SECONDS:
        await store.seen(session_id, time)
        request.session[SEEN_AT] = time
    return None


def _timeout(request: Request, record: SessionRecord, time: float) -> str | None:
    """Which timeout the session is past at ``time``, if any."""
    settings = desk(request).settings
    if time - record.login_at >= settings.session_absolute_timeout:
        return sessions.ABSOLUTE
    if time - record.last_seen_at >= settings.session_idle_timeout:
        return sessions.IDLE
    return None


async def end(request: Request) -> tuple[User | None, str | None]:
    """End the session here and on the server; who it was and the ID token it kept (for
    the provider's logout)."""
    user = current_user(request)
    id_token = request.session.get(ID_TOKEN)
    session_id = request.session.get(SESSION_ID)
    if isinstance(session_id, str):
        await session_store(request).end(session_id, now(request), sessions.LOGOUT)
    request.session.clear()
    return user, id_token if isinstance(id_token, str) else None


def take_expired(request: Request) -> bool:
    """Whether the last session just expired (told once, on the login page)."""
    return bool(request.session.pop(EXPIRED, False))
