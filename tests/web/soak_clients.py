"""The crash soak's clients (``test_crash_soak``): people answering waits through the form
and a service through the signal API, over real HTTP, each behaving after a dropped
connection the way a careful real client does.

A refused connection means the request never left, so it is sent again once the server is
back, whatever it is. A connection dropped after the request was sent (the server was
killed mid-request) is "no answer": the request may or may not have been stored. Then a
person resubmits the same form (same idempotency key) or reloads the page and answers
afresh if the wait is still open; the service retries with its ``Idempotency-Key``, and
gives up when it sent none (a POST without a key is not safe to repeat).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from bs4 import BeautifulSoup, SoupStrainer, Tag
from web_helpers import form_fields, parse

from app.engine import SignalRecord

# Longer than a restart of the server on this busy machine (``killable_server``).
DOWNTIME = 180.0
MAX_TRIES = 20  # attempts of one request that got no answer; each drop is one kill
HTMX = {"HX-Request": "true"}
SERVICE_APPROVER = "payments-bot@example.com"


class Dropped(Exception):
    """The connection ended after the request was sent (or a 5xx): no answer."""


@dataclass(eq=False)  # one per request: kept in sets by identity
class Request:
    """One request a client meant to make once, and what it finally heard.

    ``key`` is its idempotency key (the form's, or the ``Idempotency-Key`` header);
    ``reference`` is in the API's payloads, to find the signal of a request without a key.
    """

    execution_id: str
    door: str  # "form" or "api"
    approver: str
    key: str | None = None
    reference: str | None = None
    status: int | None = None  # the answer's status; None: no answer (given up)
    duplicate: bool = False  # accepted as the repeat of an attempt that got no answer
    drops: int = 0  # attempts that got no answer
    server_errors: list[int] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        """``accepted`` (2xx), ``refused`` (4xx) or ``no answer``."""
        if self.status is None:
            return "no answer"
        return "accepted" if 200 <= self.status < 300 else "refused"


async def send(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One attempt: sent again while the server is down (connection refused: it never
    left); ``Dropped`` when the connection ends after sending, or on a server error."""
    loop = asyncio.get_running_loop()
    deadline, pause = loop.time() + DOWNTIME, 0.05
    while True:
        try:
            response = await client.request(method, url, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout):
            if loop.time() > deadline:
                raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)
            continue
        except httpx.TransportError as exc:
            raise Dropped(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500:
            raise Dropped(str(response.status_code))
        return response


class Person:
    """Someone logged in through the development login, answering from execution pages.

    ``pending`` holds the requests sent and not answered yet (shared by every client).
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        name: str,
        email: str,
        groups: str = "ops",
        pending: set[Request] | None = None,
    ) -> None:
        self.client, self.name, self.email, self.groups = client, name, email, groups
        self.pending = set() if pending is None else pending

    async def login(self) -> None:
        page = parse(await send(self.client, "GET", "/login"))
        form = page.find("form", action="/login")
        assert isinstance(form, Tag)
        fields = form_fields(form) | {"name": self.name, "email": self.email, "groups": self.groups}
        response = await send(self.client, "POST", "/login", data=fields)
        assert response.status_code == 303, response.text[:500]

    async def open_form(self, execution_id: str) -> tuple[str, dict[str, str]] | None:
        """The action and fields of the execution's open wait's form; None when the page
        shows none (answered). A page is safe to load again, so a drop just reloads it."""
        for _ in range(MAX_TRIES):
            try:
                response = await send(self.client, "GET", f"/executions/{execution_id}")
            except Dropped:
                continue
            assert response.status_code == 200, response.text[:500]
            action = re.compile(f"^/executions/{execution_id}/waits/")
            # only the forms are built into a tree: the soak's client is on a busy machine
            forms = BeautifulSoup(response.text, "html.parser", parse_only=SoupStrainer("form"))
            form = forms.find("form", action=action)
            return None if form is None else (str(form["action"]), form_fields(form))
        raise AssertionError(f"the page of {execution_id} never loaded")

    async def approve(self, execution_id: str, resubmit: bool) -> list[Request]:
        """Press Approve on the page; after no answer, ``resubmit`` the same form, or
        else reload the page and answer again if the wait is still open (a new form:
        a new request with a new key)."""
        requests: list[Request] = []
        opened = await self.open_form(execution_id)
        while opened is not None and len(requests) < MAX_TRIES:
            action, fields = opened
            request = Request(execution_id, "form", self.email, key=fields["idempotency_key"])
            requests.append(request)
            self.pending.add(request)
            while request.status is None and request.drops < MAX_TRIES:
                try:
                    response = await send(
                        self.client,
                        "POST",
                        action,
                        data=fields | {"f.approved": "true"},
                        headers=HTMX,
                    )
                    request.status = response.status_code
                    request.duplicate = "already been received" in parse(response).get_text()
                except Dropped as exc:
                    request.drops += 1
                    _server_error(request, exc)
                    if not resubmit:
                        break
            self.pending.discard(request)
            if request.status is not None:
                break
            opened = await self.open_form(execution_id)
        return requests


class Service:
    """A machine sender with an API token, approving through the signal API."""

    def __init__(
        self, client: httpx.AsyncClient, token: str, pending: set[Request] | None = None
    ) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}
        self.pending = set() if pending is None else pending

    async def approve(self, execution_id: str, key: str | None) -> Request:
        """POST the approval; after no answer retry with the same key (the same payload),
        or give up without one."""
        reference = uuid.uuid4().hex
        payload = {
            "approved": True,
            "approver": SERVICE_APPROVER,
            "timestamp": datetime.now(UTC).isoformat(),
            "reference": reference,
        }
        return await self._post(execution_id, payload, key, reference)

    async def approve_wrongly(self, execution_id: str) -> Request:
        """An approval the schema refuses (``approved`` must be a boolean): a 422."""
        reference = uuid.uuid4().hex
        payload = {"approved": "yes", "approver": SERVICE_APPROVER, "reference": reference}
        return await self._post(execution_id, payload, f"wrong-{reference}", reference)

    async def _post(
        self, execution_id: str, payload: dict[str, Any], key: str | None, reference: str
    ) -> Request:
        request = Request(execution_id, "api", SERVICE_APPROVER, key=key, reference=reference)
        headers = self.headers | ({} if key is None else {"Idempotency-Key": key})
        url = f"/api/executions/{execution_id}/signals/approval"
        self.pending.add(request)
        while request.status is None and request.drops < MAX_TRIES:
            try:
                response = await send(self.client, "POST", url, json=payload, headers=headers)
                request.status = response.status_code
                request.duplicate = response.status_code == 202 and response.json()["duplicate"]
            except Dropped as exc:
                request.drops += 1
                _server_error(request, exc)
                if key is None:
                    break
        self.pending.discard(request)
        return request


def is_stored(request: Request, signal: SignalRecord) -> bool:
    """Whether ``signal`` is the request's: its key, or (none) its payload's reference."""
    if signal.idempotency_key is not None and signal.idempotency_key == request.key:
        return True
    payload = signal.payload if isinstance(signal.payload, dict) else {}
    return request.reference is not None and payload.get("reference") == request.reference


def _server_error(request: Request, exc: Dropped) -> None:
    if str(exc).isdigit():
        request.server_errors.append(int(str(exc)))


async def create_token(admin: httpx.AsyncClient, name: str) -> str:
    """A token for every workflow and signal, created on the admin page; its secret."""
    form = parse(await send(admin, "GET", "/admin/tokens")).find("form", action="/admin/tokens")
    assert isinstance(form, Tag)
    fields: dict[str, Any] = form_fields(form) | {"name": name, "signals": "", "workflows": []}
    response = await send(admin, "POST", "/admin/tokens", data=fields)
    assert response.status_code == 200, response.text[:500]
    secret = parse(response).find(id="token-secret")
    assert isinstance(secret, Tag)
    return str(secret["value"])
