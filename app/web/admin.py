"""Administrators' pages: API tokens of machine senders (create, show once, revoke)."""

from __future__ import annotations

import re
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from .authorization import is_admin
from .identity import User, current_user
from .security import verified_form
from .state import desk
from .tokens import MAX_NAME, TokenNameTaken, token_store

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:@-]*$")


def require_admin(request: Request, refusal: str) -> User:
    """The logged-in administrator; 403 with ``refusal`` for anyone else."""
    user = current_user(request)
    if user is None or not is_admin(user, desk(request).settings):
        raise HTTPException(403, refusal)
    return user


def _admin(request: Request) -> User:
    return require_admin(request, "Only administrators manage API tokens.")


async def _render(
    request: Request,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
    created: dict[str, Any] | None = None,
) -> Response:
    the = desk(request)
    return the.templates.TemplateResponse(
        request,
        "admin/tokens.html",
        {
            "tokens": await token_store(request).list(),
            "workflows": the.workflows,
            "values": values,
            "errors": errors,
            "created": created,
        },
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )  # the page may hold a secret


async def tokens_page(request: Request) -> Response:
    """GET /admin/tokens: every token, and the form to create one."""
    _admin(request)
    return await _render(request, {"name": "", "workflows": [], "signals": ""}, {})


async def create_token(request: Request) -> Response:
    """POST /admin/tokens: create a token; the page shows its secret, this once."""
    user = _admin(request)
    form = await verified_form(request)
    the = desk(request)
    name = str(form.get("name") or "").strip()
    workflows = [str(w) for w in form.getlist("workflows")]
    signals_text = str(form.get("signals") or "")
    signals = [s.strip() for s in signals_text.split(",") if s.strip()]
    values = {"name": name, "workflows": workflows, "signals": signals_text}
    errors: dict[str, str] = {}
    if not name or len(name) > MAX_NAME or not NAME.match(name):
        errors["name"] = (
            f"Enter a name of at most {MAX_NAME} letters, digits, spaces or "
            "._:@- (it is recorded as the sender)."
        )
    if any(w not in the.workflows for w in workflows):
        errors["workflows"] = "Pick workflows from the list."
    if any(len(s) > 200 for s in signals):
        errors["signals"] = "Signal names are at most 200 characters."
    if not errors:
        try:
            token, secret = await token_store(request).create(
                name,
                tuple(dict.fromkeys(workflows)),
                tuple(dict.fromkeys(signals)),
                user.email,
                time.time(),
            )
        except TokenNameTaken:
            errors["name"] = "Another token has this name."
        else:
            created = {"token": token, "secret": secret}
            return await _render(
                request, {"name": "", "workflows": [], "signals": ""}, {}, created=created
            )
    return await _render(request, values, errors, status_code=422)


async def revoke_token(request: Request) -> Response:
    """POST /admin/tokens/{id}/revoke: the token stops working at once."""
    _admin(request)
    await verified_form(request)
    if not await token_store(request).revoke(request.path_params["token_id"], time.time()):
        raise HTTPException(404, "No such token, or it is already revoked.")
    return RedirectResponse("/admin/tokens", status_code=303)
