"""Rate limits counted in the database: every process shares them, on SQLite and PostgreSQL.

Each "process" here has its own pool (``counting_engine``, as each copy of the app has
one), so nothing is shared but the database. Clocks are set by the tests; the first
stands at the start of a minute (and of an hour).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import pg_databases
import pytest
import sqlalchemy as sa
from desk_servers import running_servers
from patience import patience
from sqlalchemy.ext.asyncio import AsyncEngine
from web_helpers import CLOCK_START, Browser, Clock, form_fields, parse

from app.engine import Stent
from app.settings import Settings
from app.web import create_app
from app.web.ratelimit import SWEEP_SECONDS, RateLimiter, Verdict, counting_engine, stored_key
from app.web.tables import rate_limits

START = CLOCK_START


@pytest.fixture
async def engines(db_url: str) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """Two processes' database access: two pools on one database (migrated: a SQLite file
    starts empty, a PostgreSQL copy of the template does not)."""
    await pg_databases.migrate(db_url)
    first, second = counting_engine(db_url), counting_engine(db_url)
    try:
        yield first, second
    finally:
        await first.dispose()
        await second.dispose()


def limiter(
    engine: AsyncEngine, clock: Clock, rate: str = "3/minute", name: str = "login"
) -> RateLimiter:
    return RateLimiter(rate, name, engine, clock)


async def rows(engine: AsyncEngine) -> list[tuple[str, str, int, int]]:
    async with engine.connect() as conn:
        result = await conn.execute(
            sa.select(
                rate_limits.c.limiter,
                rate_limits.c.key,
                rate_limits.c.window_start,
                rate_limits.c.hits,
            ).order_by(rate_limits.c.window_start, rate_limits.c.key, rate_limits.c.limiter)
        )
        return [tuple(row) for row in result.all()]  # type: ignore[misc]


# ---------------------------------------------------------------------------- sharing
async def test_two_limiters_on_one_database_share_one_count(
    engines: tuple[AsyncEngine, AsyncEngine], clock: Clock
) -> None:
    one, other = limiter(engines[0], clock), limiter(engines[1], clock)
    assert await one.hit("203.0.113.7") == Verdict(True)
    assert await other.hit("203.0.113.7") == Verdict(True)
    assert await one.hit("203.0.113.7") == Verdict(True)
    # the limit is used up, through either: the other refuses too
    assert not (await other.hit("203.0.113.7")).allowed
    assert not (await one.hit("203.0.113.7")).allowed
    # counts are per key, and per limiter name
    assert await other.hit("198.51.100.9") == Verdict(True)
    assert await limiter(engines[1], clock, name="api").hit("203.0.113.7") == Verdict(True)
    assert await rows(engines[0]) == [
        ("login", "198.51.100.9", START, 1),
        ("api", "203.0.113.7", START, 1),
        ("login", "203.0.113.7", START, 3),
    ]


async def test_concurrent_hits_through_two_processes_never_exceed_the_limit(
    engines: tuple[AsyncEngine, AsyncEngine], clock: Clock
) -> None:
    limiters = [limiter(engine, clock, "6/minute") for engine in engines]
    # 20 at once: up to 10 connections of each pool (the test server is shared)
    verdicts = await asyncio.gather(*(limiters[i % 2].hit("203.0.113.7") for i in range(20)))
    assert sum(verdict.allowed for verdict in verdicts) == 6
    assert await rows(engines[0]) == [("login", "203.0.113.7", START, 6)]


# ---------------------------------------------------------------------------- refusals
async def test_a_refused_hit_is_not_counted_and_retry_after_is_when_one_is_allowed(
    engines: tuple[AsyncEngine, AsyncEngine], clock: Clock
) -> None:
    one, other = limiter(engines[0], clock), limiter(engines[1], clock)
    for _ in range(3):
        assert (await one.hit("k")).allowed
    # 3 hits at the start of the minute weigh 3 * (60 - 20) / 60 = 2 at 20 s into the next
    assert await other.hit("k") == Verdict(False, 80)
    clock.now = START + 30
    for _ in range(5):
        assert await one.hit("k") == Verdict(False, 50)
    assert await rows(engines[0]) == [("login", "k", START, 3)]  # refusals not counted
    clock.now = START + 79.5
    assert await other.hit("k") == Verdict(False, 1)
    clock.now = START + 80
    assert await other.hit("k") == Verdict(True)
    assert await one.hit("k") == Verdict(False, 20)  # the next hit waits for 1 more to fade
    clock.now = START + 100
    assert await one.hit("k") == Verdict(True)


async def test_retry_after_from_the_previous_window(
    engines: tuple[AsyncEngine, AsyncEngine], clock: Clock
) -> None:
    one = limiter(engines[0], clock, "4/minute")
    clock.now = START + 45
    for _ in range(3):
        assert (await one.hit("k")).allowed
    clock.now = START + 60 + 15  # 3 * 45/60 = 2.25 weighted: room for exactly one
    assert (await one.hit("k")).allowed
    # 3 * (60 - e) / 60 + 1 + 1 <= 4 once e >= 20
    assert await one.hit("k") == Verdict(False, 5)
    clock.now = START + 60 + 20
    assert (await one.hit("k")).allowed


async def test_retry_after_agrees_with_the_limit_at_random_times(
    engines: tuple[AsyncEngine, AsyncEngine], clock: Clock
) -> None:
    """Random hits through two processes, against the sliding window counter of ``limits``
    computed exactly; after each refusal, the hit a second before Retry-After is still
    refused (a free probe: refusals are not counted) and the one at Retry-After allowed."""
    chance = random.Random(20261129)
    for rate, period, amount in (
        ("3/minute", 60, 3),
        ("5 per 10 seconds", 10, 5),
        ("1/second", 1, 1),
    ):
        limiters = [limiter(engine, clock, rate) for engine in engines]
        hits: dict[int, int] = {}  # window start -> hits allowed, as the model counts them

        def admits(
            now: Fraction, period: int = period, amount: int = amount, hits: dict[int, int] = hits
        ) -> bool:
            start = int(now // period) * period
            weight = (period - (now - start)) / period
            return hits.get(start - period, 0) * weight + hits.get(start, 0) + 1 <= amount

        def count(now: Fraction, period: int = period, hits: dict[int, int] = hits) -> None:
            start = int(now // period) * period
            hits[start] = hits.get(start, 0) + 1

        now = Fraction(int(START) + 7 * period)  # its own windows: no count left over
        refusals = 0
        for _ in range(60):
            now += Fraction(chance.randrange(0, 4 * period + 1), 8)  # steps of 1/8 s
            clock.now = float(now)
            expected = admits(now)
            verdict = await chance.choice(limiters).hit(rate)
            assert verdict.allowed == expected, (rate, now)
            if verdict.allowed:
                count(now)
                continue
            refusals += 1
            wait = verdict.retry_after
            assert wait >= 1
            if wait > 1:
                clock.now = float(now + wait - 1)
                assert not admits(now + wait - 1)
                assert not (await chance.choice(limiters).hit(rate)).allowed, (rate, now)
            now += wait
            clock.now = float(now)
            assert admits(now), (rate, now, wait)
            assert (await chance.choice(limiters).hit(rate)).allowed, (rate, now, wait)
            count(now)
        assert refusals >= 10, rate  # the schedule does reach the limit, often


# ---------------------------------------------------------------------------- expiry
async def test_windows_expire_and_are_deleted(
    engines: tuple[AsyncEngine, AsyncEngine], clock: Clock
) -> None:
    one, other = limiter(engines[0], clock), limiter(engines[1], clock, "5/hour", "api")
    for _ in range(3):
        assert (await one.hit("k")).allowed
        assert (await other.hit("k")).allowed
    assert not (await one.hit("k")).allowed
    clock.now = START + 2 * 60  # two periods on: neither window weighs any more
    for _ in range(3):
        assert (await one.hit("k")).allowed
    assert not (await one.hit("k")).allowed
    # the first hit after SWEEP_SECONDS deleted the expired minute, not the open hour
    assert await rows(engines[0]) == [("api", "k", START, 3), ("login", "k", START + 120, 3)]
    clock.now = START + 2 * 3600 + SWEEP_SECONDS
    assert (await other.hit("k")).allowed
    assert await rows(engines[0]) == [("api", "k", START + 2 * 3600, 1)]


async def test_a_long_key_is_stored_as_its_digest(
    engines: tuple[AsyncEngine, AsyncEngine], clock: Clock
) -> None:
    one = limiter(engines[0], clock, "1/minute")
    assert (await one.hit("x" * 300)).allowed
    assert not (await one.hit("x" * 300)).allowed
    assert (await one.hit("x" * 299 + "y")).allowed
    assert len(stored_key("x" * 300)) < 255 and stored_key("203.0.113.7") == "203.0.113.7"


# ---------------------------------------------------------------------------- the apps
def app_settings(db_url: str) -> Settings:
    return replace(
        Settings(),
        database_url=db_url,
        workflow_modules=("workflows.approval",),
        sqlite_synchronous="NORMAL",
        login_rate_limit="3/minute",
        api_rate_limit="2/minute",
    )


def client(app: Any, address: str = "203.0.113.7") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_two_apps_on_one_database_share_the_login_and_api_limits(
    db_url: str, clock: Clock
) -> None:
    settings = app_settings(db_url)
    # Two copies of the dashboard, as behind a load balancer; one runs the worker.
    first = create_app(settings, Stent(db_url, clock=clock, sqlite_synchronous="NORMAL"))
    second = create_app(
        settings, Stent(db_url, clock=clock, sqlite_synchronous="NORMAL", run_worker=False)
    )
    async with (
        first.router.lifespan_context(first),
        second.router.lifespan_context(second),
        client(first) as a,
        client(second) as b,
        client(second, "198.51.100.9") as elsewhere,
    ):
        await Browser(a).login("Ann", "ann@example.com", "finance")
        await Browser(b).login("Bob", "bob@example.com", "finance")
        await Browser(a).login("Cy", "cy@example.com", "finance")
        form = parse(await b.get("/login")).find("form", action="/login")
        fields = form_fields(form) | {"name": "Di", "email": "di@example.com"}  # type: ignore[arg-type]
        refused = await b.post("/login", data=fields)
        assert refused.status_code == 429 and refused.headers["retry-after"] == "80"
        assert (await a.get("/login/sso")).status_code == 429
        await Browser(elsewhere).login("Eve", "eve@example.com", "finance")

        url = "/api/executions/e/signals/n"
        statuses = [(await api.post(url, json={})).status_code for api in (a, b, a)]
        assert statuses == [401, 401, 429]


# ---------------------------------------------------------------------------- processes
@pytest.fixture
def servers(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """Two `stent-desk serve` processes on one new PostgreSQL database; their URLs."""
    pg_databases.require_server()
    databases: pg_databases.Databases = request.getfixturevalue("pg_databases")
    name = databases.take()
    try:
        with running_servers(
            pg_databases.database_url(name), 2, tmp_path, STENT_LOGIN_RATE_LIMIT="3/minute"
        ) as urls:
            yield urls
    finally:
        databases.drop(name)


async def test_two_server_processes_share_the_login_limit(servers: list[str]) -> None:
    """The deployment this is for: two copies of the app behind a balancer, on PostgreSQL.
    Login attempts alternate between them; the fourth is refused, by either."""
    async with httpx.AsyncClient(timeout=patience(5)) as http:
        statuses = [(await http.get(f"{servers[i % 2]}/login/sso")).status_code for i in range(5)]
    # single sign-on is off (404 or a redirect, not the point): attempts all the same
    assert 429 not in statuses[:3] and statuses[3:] == [429, 429], statuses
