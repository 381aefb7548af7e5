"""The few htmx request and response headers the views use, in one place."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response


def is_htmx(request: Request) -> bool:
    """True for a request htmx made (it swaps a fragment instead of loading a page)."""
    return request.headers.get("hx-request") == "true"


def target(request: Request) -> str | None:
    """The id of the element an htmx request will swap."""
    return request.headers.get("hx-target")


def trigger(response: Response, event: str) -> Response:
    """Make htmx fire ``event`` on the page once the response is swapped in."""
    response.headers["HX-Trigger"] = event
    return response


def redirect(response: Response, url: str) -> Response:
    """Make htmx load ``url`` as a whole page."""
    response.headers["HX-Redirect"] = url
    return response
