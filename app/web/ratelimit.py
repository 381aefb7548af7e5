"""Rate limits per client, counted in the application database, and a 429 page.

Several copies of the dashboard may serve one PostgreSQL database behind a load balancer.
Counted in each process's memory, every copy allowed the full rate, so N copies gave an
attacker N times the login attempts. The counts live in the ``rate_limits`` table instead
(SQLite or PostgreSQL, one code path), where every process sees every other's hits.

Written here, not taken from a library: ``limits`` (which still parses the rates) keeps
counts in memory, Redis, Memcached or MongoDB, none of them SQL, and a new server to deploy
is not worth it; PyrateLimiter's SQLite and PostgreSQL buckets are two code paths on
blocking drivers (sqlite3, psycopg), write a row per hit and create their tables outside
alembic.

The algorithm is the sliding window counter of ``limits`` (its SlidingWindowCounter): hits
are counted in fixed windows of the rate's period, and the previous window's count weighs
in proportion to how much of it the moving window ending now still covers::

    weighted = previous * (period - elapsed) / period + current

A hit is allowed when ``weighted + 1 <= amount``. Two numbers per key and window instead of
a row per hit, and no burst of twice the rate across a window's edge as fixed windows allow.

Behind a reverse proxy every request comes from the proxy's address unless the server is
told to trust its forwarding headers.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import limits
from sqlalchemy import BigInteger, Float, Integer, String, bindparam, delete, event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.sql.dml import ReturningInsert
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from .state import desk
from .tables import rate_limits
from .users import BUSY_TIMEOUT_MS, WEB_POOL_OVERFLOW, WEB_POOL_SIZE, async_url

# How often each limiter deletes the windows that ended more than a period ago. Stale rows
# cost only space (a hit reads its own two windows by primary key), so once a minute is
# plenty, in every process: each delete is one indexed range on expires_at.
SWEEP_SECONDS = 60.0
MAX_KEY = 255  # the length of rate_limits.key
MAX_NAME = 32  # the length of rate_limits.limiter


@dataclass(frozen=True)
class Verdict:
    """Whether a hit was within the limit, and if not, how long until one would be."""

    allowed: bool
    retry_after: int = 0  # whole seconds; 0 when allowed


class RateLimiter:
    """At most ``rate`` hits (``"20/minute"``, ``"5/second"``) per key in a sliding window,
    counted in the ``rate_limits`` table of ``engine``'s database.

    Limiters with the same ``name`` on one database share their counts, whichever process
    they are in: that is the point. ``clock`` gives seconds since the epoch; every process
    should agree on it (a skew of a second shifts a window's edge by a second).
    """

    def __init__(
        self, rate: str, name: str, engine: AsyncEngine, clock: Callable[[], float] = time.time
    ) -> None:
        if not 0 < len(name) <= MAX_NAME:
            raise ValueError(f"a limiter's name has 1 to {MAX_NAME} characters: {name!r}")
        self.rate = limits.parse(rate)
        self.name = name  # keeps the counts of the limiters sharing the table apart
        self.engine = engine
        self.clock = clock
        self.period = self.rate.get_expiry()  # whole seconds
        self._count = _count_statement(engine.dialect.name)
        self._next_sweep = -math.inf

    async def hit(self, key: str) -> Verdict:
        """Count one hit for ``key``; refused (and not counted) when over the limit.

        One statement, whatever the outcome: an UPSERT that adds the hit only where the
        weighted count leaves room for it, so concurrent hits from any number of processes
        can never together exceed the limit. Only a refusal reads the counts again, to say
        when to retry.
        """
        now = self.clock()
        key = stored_key(key)
        start = int(now // self.period) * self.period
        async with self.engine.begin() as conn:
            counted = (
                await conn.execute(
                    self._count,
                    {
                        "limiter": self.name,
                        "key": key,
                        "window_start": start,
                        "previous_start": start - self.period,
                        "remaining": self.period - (now - start),  # of the previous window
                        "period": self.period,
                        "room": (self.rate.amount - 1) * self.period,
                        "expires_at": float(start + 2 * self.period),
                    },
                )
            ).first()
        if now >= self._next_sweep:
            await self._sweep(now)
        if counted is not None:
            return Verdict(True)
        previous, current = await self._counts(key, start)
        return Verdict(False, self.retry_after(now, start, previous, current))

    def retry_after(self, now: float, start: int, previous: int, current: int) -> int:
        """Whole seconds from ``now`` until a hit would be allowed, if no other came: the
        previous window's count fades out linearly over this window, and this window's
        count over the next (where it is the previous)."""
        period, amount = self.period, self.rate.amount
        if current >= amount:  # this window alone is full: wait until the next, as previous
            at = start + 2 * period - (amount - 1) * period / current
        elif previous > 0:  # this window has room once enough of the previous one fades
            at = start + period - (amount - 1 - current) * period / previous
        else:  # the counts changed since the refusal (a refusal needs one of the above)
            at = now
        return max(1, math.ceil(at - now))

    async def _counts(self, key: str, start: int) -> tuple[int, int]:
        """The hits of the previous and the current window."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(rate_limits.c.window_start, rate_limits.c.hits).where(
                        rate_limits.c.limiter == self.name,
                        rate_limits.c.key == key,
                        rate_limits.c.window_start.in_([start - self.period, start]),
                    )
                )
            ).all()
        hits = {row.window_start: row.hits for row in rows}
        return hits.get(start - self.period, 0), hits.get(start, 0)

    async def _sweep(self, now: float) -> None:
        """Delete every limiter's windows that can no longer count (in any process)."""
        self._next_sweep = now + SWEEP_SECONDS
        async with self.engine.begin() as conn:
            await conn.execute(delete(rate_limits).where(rate_limits.c.expires_at <= now))


def counting_engine(database_url: str) -> AsyncEngine:
    """The limiters' own pool on the application database, made for one write per request.

    Every operation of a limiter is a single statement, so the pool runs in autocommit:
    no BEGIN and COMMIT round trips (``engine.begin()`` emits neither). And its commits do
    not wait for the disk: PostgreSQL's ``synchronous_commit = off``, SQLite's
    ``synchronous = NORMAL`` (in WAL mode, as the executor keeps the file). Waiting for a
    flush at every hit made an API request on SQLite about three times slower here. A
    crash of the machine (not of the process) may forget the last hits counted: harmless
    for counts that last a minute or so, and neither setting risks corrupting the database.
    The pools of the executor, the users and the tokens keep their durability. The
    statements are the same on both databases; only this per-connection setting is spelled
    twice.
    """
    engine = create_async_engine(
        async_url(database_url),
        isolation_level="AUTOCOMMIT",
        pool_size=WEB_POOL_SIZE,
        max_overflow=WEB_POOL_OVERFLOW,
    )
    event.listen(
        engine.sync_engine,
        "connect",
        _sqlite_setup if engine.dialect.name == "sqlite" else _postgresql_setup,
    )
    return engine


def _sqlite_setup(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")  # wait for the executor's writer
    cursor.execute("PRAGMA synchronous=NORMAL")  # in WAL mode: no flush at commit
    cursor.close()


def _postgresql_setup(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("SET synchronous_commit = off")
    cursor.close()


def stored_key(key: str) -> str:
    """``key`` as stored: as it is, or its SHA-256 when longer than the column allows."""
    if len(key) <= MAX_KEY:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def _count_statement(dialect: str) -> ReturningInsert[tuple[int]]:
    """The UPSERT of one hit, for ``dialect`` (``INSERT ... ON CONFLICT`` is spelled alike
    on PostgreSQL and SQLite >= 3.35; SQLAlchemy has one construct per dialect).

    The room is checked without division (exact at whole seconds)::

        previous * remaining + current * period <= (amount - 1) * period

    A new window is inserted only where the previous one leaves room for a first hit; an
    existing one is incremented only where it has room. Otherwise nothing is written and
    nothing is returned: the refused hit is not counted.
    """
    table = rate_limits
    before = table.alias("previous_window")  # an alias: not correlated to the target row
    previous = func.coalesce(
        select(before.c.hits)
        .where(
            before.c.limiter == bindparam("limiter", type_=String),
            before.c.key == bindparam("key", type_=String),
            before.c.window_start == bindparam("previous_start", type_=BigInteger),
        )
        .scalar_subquery(),
        0,
    ) * bindparam("remaining", type_=Float)
    room = bindparam("room", type_=Float)  # (amount - 1) * period
    first = select(
        bindparam("limiter", type_=String),
        bindparam("key", type_=String),
        bindparam("window_start", type_=BigInteger),
        bindparam("one", 1, type_=Integer),
        bindparam("expires_at", type_=Float),
    ).where(previous <= room)
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(table)
        .from_select(
            ["limiter", "key", "window_start", "hits", "expires_at"],
            first,
        )
        .on_conflict_do_update(
            index_elements=[table.c.limiter, table.c.key, table.c.window_start],
            set_={"hits": table.c.hits + 1},
            where=previous + table.c.hits * bindparam("period", type_=Float) <= room,
        )
        .returning(table.c.hits)
    )


def client_address(request: Request) -> str:
    """The address a request came from: the key of per-client limits."""
    return request.client.host if request.client else "unknown"


class LimitRequests:
    """Middleware: requests to ``routes`` ((method, path) pairs) count against ``limiter``
    per ``key`` (the client address); over the limit, a 429 page with ``Retry-After``.

    Place it after the session middleware: the page, like every page, has a CSRF token.
    """

    def __init__(
        self,
        app: ASGIApp,
        limiter: RateLimiter,
        routes: Collection[tuple[str, str]],
        key: Callable[[Request], str] = client_address,
        message: str = "Too many attempts from your address. Try again in {seconds} seconds.",
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.routes = frozenset(routes)
        self.key = key
        self.message = message

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"], scope["path"]) not in self.routes:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        verdict = await self.limiter.hit(self.key(request))
        if verdict.allowed:
            await self.app(scope, receive, send)
            return
        response = desk(request).templates.TemplateResponse(
            request,
            "errors/page.html",
            {"status": 429, "message": self.message.format(seconds=verdict.retry_after)},
            status_code=429,
            headers={"Retry-After": str(verdict.retry_after)},
        )
        await response(scope, receive, send)
