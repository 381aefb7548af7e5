"""The Jinja environment: autoescaped templates, with filters for times and names."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from jinja2_fragments.starlette import Jinja2Blocks
from starlette.requests import Request

from .security import csrf_token

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
_SURROGATE = re.compile("[\ud800-\udfff]")


def when(timestamp: float | None) -> str:
    """A stored time as ISO 8601 in UTC, to the second."""
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(timestamp: float | None) -> str:
    """A stored time for ``<time datetime>``: ISO 8601 in UTC."""
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ago(timestamp: float | None, now: float | None = None) -> str:
    """How long ago (or, for a future time, in how long): "5 min", "3 h", "2 d"."""
    if timestamp is None:
        return ""
    seconds = (now if now is not None else time.time()) - timestamp
    future, seconds = seconds < 0, abs(seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            text = f"{int(seconds // size)} {unit}"
            break
    else:
        text = f"{int(seconds)} s"
    return f"in {text}" if future else text


def workflow_label(name: str) -> str:
    """``workflows.purchase_approval.purchase_approval`` -> ``Purchase approval``."""
    return name.rsplit(".", 1)[-1].replace("_", " ").capitalize()


def pretty_json(value: Any) -> str:
    """JSON for people: indented, keys in their order."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def showable(value: Any) -> Any:
    """Every value a template prints, as text a UTF-8 page can carry.

    The executor refuses strings with lone surrogates, but a value stored before it did
    (or by another program) must not make a page fail for everyone: such a character is
    shown as U+FFFD instead. ``Markup`` stays ``Markup``.
    """
    if isinstance(value, str) and not value.isascii() and _SURROGATE.search(value):
        return type(value)(_SURROGATE.sub("\ufffd", value))
    return value


def make_templates() -> Jinja2Blocks:
    """Templates from ``templates/`` with autoescaping on for every file."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        # templates change with a deploy, not while serving: skip a stat() per render
        auto_reload=False,
        lstrip_blocks=True,
        finalize=showable,
    )
    env.filters.update(
        when=when, iso=iso, ago=ago, workflow_label=workflow_label, pretty_json=pretty_json
    )
    return Jinja2Blocks(env=env, context_processors=[_csrf])


def _csrf(request: Request) -> dict[str, Any]:
    """Every page has a form (log out, at least), so every page gets the CSRF token.

    An error raised before the session was read (a 500 from the outer layers) has none.
    """
    return {"csrf_token": csrf_token(request) if "session" in request.scope else ""}
