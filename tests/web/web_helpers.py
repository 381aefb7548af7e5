"""A small browser over httpx: follows the dashboard's forms the way a person would."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from bs4 import BeautifulSoup, Tag
from patience import patience

from app.engine import Stent


def parse(response: httpx.Response) -> BeautifulSoup:
    """The response's HTML, parsed."""
    return BeautifulSoup(response.text, "html.parser")


def form_fields(form: Tag) -> dict[str, str]:
    """The values a browser would submit for ``form`` (hidden and prefilled inputs)."""
    fields: dict[str, str] = {}
    for element in form.find_all(["input", "textarea", "select"]):
        name = element.get("name")
        if not name or element.get("type") in ("submit", "button"):
            continue
        if element.get("type") in ("checkbox", "radio") and not element.has_attr("checked"):
            continue
        if element.name == "textarea":
            fields[str(name)] = element.text
        elif element.name == "select":
            chosen = element.find("option", selected=True) or element.find("option")
            fields[str(name)] = str(chosen.get("value", "")) if chosen else ""
        else:
            fields[str(name)] = str(element.get("value", ""))
    return fields


class Browser:
    """An httpx client with the dashboard's login and forms."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.client.get(url, **kwargs)

    async def page(self, url: str) -> BeautifulSoup:
        response = await self.client.get(url)
        assert response.status_code == 200, (url, response.status_code, response.text[:500])
        return parse(response)

    async def login(self, name: str, email: str, groups: str) -> httpx.Response:
        form = (await self.page("/login")).find("form", action="/login")
        assert isinstance(form, Tag)
        fields = form_fields(form) | {"name": name, "email": email, "groups": groups}
        response = await self.client.post("/login", data=fields)
        assert response.status_code == 303, response.text[:500]
        return response

    async def wait_form(self, execution_id: str, wait_id: int) -> tuple[str, dict[str, str]]:
        """The action and prefilled fields of an open wait's form on the execution page."""
        soup = await self.page(f"/executions/{execution_id}")
        form = soup.find("form", action=f"/executions/{execution_id}/waits/{wait_id}")
        assert isinstance(form, Tag), soup.get_text()[:2000]
        return str(form["action"]), form_fields(form)

    async def submit(
        self, execution_id: str, wait_id: int, fields: dict[str, str], htmx: bool = True
    ) -> httpx.Response:
        action, prefilled = await self.wait_form(execution_id, wait_id)
        headers = {"HX-Request": "true", "HX-Target": f"wait-{wait_id}"} if htmx else {}
        return await self.client.post(action, data=prefilled | fields, headers=headers)


async def open_wait(executor: Stent, execution_id: str, name: str) -> int:
    """The wait id once ``execution_id`` waits on ``name``."""
    async with asyncio.timeout(patience(10)):
        while True:
            state = await executor.state_of(execution_id)
            for wait in state.waiting_on:
                if wait.name == name:
                    return wait.wait_id
            await asyncio.sleep(0.01)


CLOCK_START = 1_800_000_000.0  # a whole number of minutes and hours since the epoch


class Clock:
    """The app's time (seconds since the epoch), moved by the test."""

    def __init__(self, now: float = CLOCK_START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
