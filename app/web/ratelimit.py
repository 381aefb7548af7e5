"""Rate limits per client: moving windows counted in memory by ``limits``, and a 429 page.

The counts live in this process: run several and each allows the full rate. Behind a
reverse proxy every request comes from the proxy's address unless the server is told to
trust its forwarding headers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

import limits
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from .state import desk


@dataclass(frozen=True)
class Verdict:
    """Whether a hit was within the limit, and if not, how long until one would be."""

    allowed: bool
    retry_after: int = 0  # whole seconds; 0 when allowed


class RateLimiter:
    """At most ``rate`` hits (``"20/minute"``, ``"5/second"``) per key in any moving window."""

    def __init__(self, rate: str, name: str = "default") -> None:
        self.rate = limits.parse(rate)
        self.name = name  # keeps the keys of limiters that share a storage apart
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def hit(self, key: str) -> Verdict:
        """Count one hit for ``key``; refused (and not counted) when over the limit."""
        if await self._limiter.hit(self.rate, self.name, key):
            return Verdict(True)
        stats = await self._limiter.get_window_stats(self.rate, self.name, key)
        return Verdict(False, max(1, math.ceil(stats.reset_time - time.time())))


def client_address(request: Request) -> str:
    """The address a request came from: the key of per-client limits."""
    return request.client.host if request.client else "unknown"


class LimitRequests:
    """Middleware: requests to ``routes`` ((method, path) pairs) count against ``limiter``
    per ``key`` (the client address); over the limit, a 429 page with ``Retry-After``.

    Place it after the session middleware: the page, like every page, has a CSRF token.
    """

    def __init__(self, app: ASGIApp, limiter: RateLimiter,
                 routes: Collection[tuple[str, str]],
                 key: Callable[[Request], str] = client_address,
                 message: str = "Too many attempts from your address. Wait a minute, "
                                "then try again.") -> None:
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
            request, "errors/page.html", {"status": 429, "message": self.message},
            status_code=429, headers={"Retry-After": str(verdict.retry_after)})
        await response(scope, receive, send)
