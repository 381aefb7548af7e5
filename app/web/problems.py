"""Problem details (RFC 9457): how the JSON API reports an error.

API code raises ``Problem``; ``errors`` (the only place an exception becomes a response)
renders it as ``application/problem+json`` with ``type``, ``title``, ``status``,
``detail`` and, for invalid payloads, the per-field ``errors``.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from starlette.responses import Response

MEDIA_TYPE = "application/problem+json"
API_PREFIX = "/api/"


class Problem(Exception):
    """An API error: its status, a short title, what happened, and more members."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        errors: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """The JSON members of the problem document."""
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            **self.extra,
        }
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def problem_response(problem: Problem) -> Response:
    """``problem`` as an ``application/problem+json`` response."""
    return Response(
        # ASCII escapes: any text a client sent (even a lone surrogate) encodes
        json.dumps(problem.body(), default=str),
        status_code=problem.status,
        headers=problem.headers,
        media_type=MEDIA_TYPE,
    )


def is_api(path: str) -> bool:
    """Requests under ``/api/`` get problem documents, not pages."""
    return path.startswith(API_PREFIX)
