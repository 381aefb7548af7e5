"""Two replicas of the dashboard on one PostgreSQL database, as behind a load balancer:
real ``stent-desk serve`` processes, each with its own executor."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bs4 import Tag
from desk_servers import running_servers
from patience import patience
from web_helpers import Browser, form_fields, open_wait, parse

from app.engine import Stent

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
COOKIE = "stent_desk_session"


@pytest.fixture
def replicas(db_url: str, tmp_path: Path) -> Iterator[list[str]]:
    with running_servers(db_url, 2, tmp_path) as urls:
        yield urls


async def test_two_approvers_on_two_replicas_race_on_one_wait(
    db_url: str, replicas: list[str]
) -> None:
    async with Stent(db_url, run_worker=False) as client:  # runs nothing: a replica does
        import workflows.approval  # noqa: F401 - registers the workflow by name

        eid = await client.start_execution("workflows.approval.approval_workflow", args=["req-9"])
        wait_id = await open_wait(client, eid, "approval")
        async with (
            httpx.AsyncClient(base_url=replicas[0], timeout=patience(5)) as one,
            httpx.AsyncClient(base_url=replicas[1], timeout=patience(5)) as two,
        ):
            ann, bob = Browser(one), Browser(two)
            await ann.login("Ann Approver", "ann@example.com", "finance")
            await bob.login("Bob Builder", "bob@example.com", "finance")
            action, ann_fields = await ann.wait_form(eid, wait_id)
            _, bob_fields = await bob.wait_form(eid, wait_id)
            headers = {"HX-Request": "true"}
            first, second = await asyncio.gather(
                one.post(action, data=ann_fields | {"f.approved": "true"}, headers=headers),
                two.post(action, data=bob_fields | {"f.approved": "true"}, headers=headers),
            )
        assert sorted([first.status_code, second.status_code]) == [200, 409]
        loser = first if first.status_code == 409 else second
        winner, email = (
            ("Ann Approver", "ann@example.com")
            if loser is second
            else ("Bob Builder", "bob@example.com")
        )
        assert f"Already answered by {winner}" in parse(loser).get_text()
        # whichever replica runs it, the one answer completes it, with its approver
        result = await client.wait_for(eid, timeout=patience(20))
        assert result.ok and result.unwrap()["approved_by"] == email
        signals = await client.signals_of(eid)
        assert [(s.name, s.state) for s in signals] == [("approval", "consumed")]


async def test_a_replica_stopped_hands_its_executions_to_the_next(
    db_url: str, tmp_path: Path
) -> None:
    async with Stent(db_url, run_worker=False) as client:
        import workflows.approval  # noqa: F401

        (tmp_path / "first").mkdir()
        with running_servers(db_url, 1, tmp_path / "first"):
            eid = await client.start_execution(
                "workflows.approval.approval_workflow", args=["req-10"]
            )
            wait_id = await open_wait(client, eid, "approval")
        # stopped with SIGTERM: the next replica takes the execution over at once (no
        # lease to wait out) and the wait is answered through it
        (tmp_path / "next").mkdir()
        with running_servers(db_url, 1, tmp_path / "next") as urls:
            async with httpx.AsyncClient(base_url=urls[0], timeout=patience(5)) as http:
                cy = Browser(http)
                await cy.login("Cy", "cy@example.com", "finance")
                response = await cy.submit(eid, wait_id, {"f.approved": "true"})
                assert response.status_code == 200, response.text[:500]
            result = await client.wait_for(eid, timeout=patience(20))
            assert result.ok and result.unwrap()["approved_by"] == "cy@example.com"


async def test_a_session_ended_on_one_replica_is_refused_on_the_other(
    replicas: list[str],
) -> None:
    async with (
        httpx.AsyncClient(base_url=replicas[0]) as one,
        httpx.AsyncClient(base_url=replicas[1]) as two,
        httpx.AsyncClient(base_url=replicas[1]) as admin_client,
    ):
        ann = Browser(one)
        await ann.login("Ann Approver", "ann@example.com", "finance")
        two.cookies.set(COOKIE, one.cookies[COOKIE])  # the balancer sends her to either
        assert (await two.get("/")).status_code == 200
        logout = (await ann.page("/")).find("form", action="/logout")
        assert isinstance(logout, Tag)
        assert (await one.post("/logout", data=form_fields(logout))).status_code == 303
        replayed = await two.get("/")
        assert replayed.status_code == 303 and replayed.headers["location"].startswith("/login")

        # an administrator on the second replica revokes her new session of the first
        await ann.login("Ann Approver", "ann@example.com", "finance")
        adam = Browser(admin_client)
        await adam.login("Adam Admin", "adam@example.com", "stent-admins")
        rows = (await adam.page("/admin/sessions")).select("#sessions tbody tr")
        (ann_row,) = [r for r in rows if r.find("small", string="ann@example.com")]
        revoke = ann_row.find("form")
        assert isinstance(revoke, Tag)
        response = await admin_client.post(str(revoke["action"]), data=form_fields(revoke))
        assert response.status_code == 303
        assert (await one.get("/")).status_code == 303
        assert (await admin_client.get("/")).status_code == 200
