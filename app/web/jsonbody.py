"""Reading the JSON body of an API request: its media type, its size, its text.

Every failure is a ``Problem`` (a 4xx that says what to send instead), raised before
anything reaches the executor, so a refused body stores nothing:
415 for anything but ``application/json`` (or a ``+json`` type) in UTF-8, 413 beyond the
size limit (read no further), 400 for text that is not JSON (NaN and Infinity included),
422 for JSON nested too deeply for anything to read it back.
"""

from __future__ import annotations

import json
from typing import Any, Final

from starlette.requests import Request

from .problems import Problem

ACCEPTED: Final = "application/json"
# The executor refuses deeper values too (``SignalValidationError``); the parser's own
# recursion limit (about 1,000 levels) must never be what answers.
TOO_DEEP: Final = "it is nested more than 100 levels deep"


def media_type(request: Request) -> tuple[str, dict[str, str]]:
    """The request's media type, lower-cased, and its parameters."""
    kind, *params = request.headers.get("content-type", "").split(";")
    parameters: dict[str, str] = {}
    for param in params:
        name, _, value = param.partition("=")
        parameters[name.strip().lower()] = value.strip().strip('"').lower()
    return kind.strip().lower(), parameters


def check_media_type(request: Request) -> None:
    """415 unless the body is declared as JSON in UTF-8."""
    kind, parameters = media_type(request)
    is_json = kind == ACCEPTED or (kind.startswith("application/") and kind.endswith("+json"))
    charset = parameters.get("charset", "utf-8")
    if not is_json or charset not in ("utf-8", "utf8"):
        shown = request.headers.get("content-type") or "no Content-Type"
        raise Problem(
            415,
            f"Send the body as JSON with 'Content-Type: {ACCEPTED}' (UTF-8); got {shown}.",
            title="Unsupported media type",
            headers={"Accept-Post": ACCEPTED},
        )


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body: 413 as soon as it is known to pass ``limit`` bytes."""
    too_large = Problem(413, f"The body is larger than the limit of {limit} bytes.")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    """The JSON value of ``body`` (strict UTF-8, no NaN or Infinity)."""
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except RecursionError as exc:
        raise Problem(
            422, f"The body {TOO_DEEP}.", title="Invalid payload", errors={"": [TOO_DEEP]}
        ) from exc
    except UnicodeDecodeError as exc:
        raise Problem(400, f"The body is not UTF-8 text: {exc}.") from exc
    except ValueError as exc:  # json.JSONDecodeError, and the constants refused
        raise Problem(400, f"The body is not valid JSON: {exc}.") from exc


async def json_body(request: Request, limit: int) -> Any:
    """The request's JSON value, checked in the order a client can act on."""
    check_media_type(request)
    return parse_json(await read_body(request, limit))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")
