"""The inbox: open waits across executions, filtered, paginated, kept up to date."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from app.engine import Page

from . import htmx
from .authorization import inbox_filters
from .identity import current_user
from .security import csrf_token
from .state import desk

AGES = {"": None, "1h": 3600, "1d": 86400, "7d": 7 * 86400}
PAGE_SIZE = 50


@dataclass(frozen=True)
class InboxQuery:
    """The inbox's filters, as they appear in its URL."""

    workflow: str = ""
    name: str = ""
    age: str = ""
    q: str = ""
    order: str = "oldest"
    after: str = ""

    @classmethod
    def from_request(cls, request: Request) -> InboxQuery:
        """The filters of a request; unknown values fall back to their defaults."""
        params = request.query_params
        age = params.get("age", "")
        order = params.get("order", "oldest")
        return cls(
            workflow=params.get("workflow", "")[:255],
            name=params.get("name", "")[:255],
            age=age if age in AGES else "",
            q=params.get("q", "").strip()[:64],
            order=order if order in ("oldest", "newest") else "oldest",
            after=params.get("after", "")[:512],
        )

    def url(self, **changes: str) -> str:
        """The inbox URL with these filters (and ``changes``), without empty ones."""
        values = {**asdict(self), **changes}
        return "/?" + urlencode(
            {k: v for k, v in values.items() if v and not (k == "order" and v == "oldest")}
        )


async def inbox(request: Request) -> Response:
    """GET /: the page, or (for htmx) just the results block that polling refreshes."""
    the = desk(request)
    query = InboxQuery.from_request(request)
    user = current_user(request)
    assert user is not None  # RequireLogin
    allowed = inbox_filters(user, the.settings)
    if allowed is None:  # auditors answer nothing: nothing waits for them
        page, total = Page([], None), 0
    else:
        max_age = AGES[query.age]
        filters: dict[str, Any] = {
            "workflow": query.workflow or None,
            "name": query.name or None,
            "opened_before": time.time() - max_age if max_age else None,
            "execution_id": query.q or None,
            **allowed,
        }
        query, page = await _page(request, query, filters)
        total = await the.executor.count_waiting(**filters)
    context = {
        "query": query,
        "page": page,
        "total": total,
        "auditor": allowed is None,
        "workflows": the.workflows,
        "ages": list(AGES),
        "now": time.time(),
        "refresh": the.settings.inbox_refresh_seconds,
        "csrf_token": csrf_token(request),
    }
    block = "results" if htmx.target(request) == "inbox-results" else None
    return the.templates.TemplateResponse(request, "inbox/page.html", context, block_name=block)


async def _page(
    request: Request, query: InboxQuery, filters: dict[str, Any]
) -> tuple[InboxQuery, Page]:
    executor = desk(request).executor
    try:
        return query, await executor.list_waiting(
            **filters,
            limit=PAGE_SIZE,
            after=query.after or None,
            newest_first=query.order == "newest",
        )
    except ValueError:  # a tampered cursor: start from the first page
        query = InboxQuery(**{**asdict(query), "after": ""})
        return query, await executor.list_waiting(
            **filters, limit=PAGE_SIZE, newest_first=query.order == "newest"
        )


def next_page_url(query: InboxQuery, page: Page) -> str | None:
    """The URL of the next page, if there is one."""
    return query.url(after=page.next_cursor) if page.next_cursor else None
