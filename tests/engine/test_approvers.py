"""Waits say who may answer them; the list of open waits filters on it."""

from __future__ import annotations

from typing import Any

import pytest
from engine_helpers import until_open_wait
from patience import patience

from app.engine import Signal, Stent

FINANCE = ["group:finance", "user:CFO@example.com"]


@Stent.durable()
async def ask(approvers: list[str] | None, allow_self: bool) -> Any:
    return await Stent.wait_for_signal("approval", approvers=approvers, allow_self=allow_self)


@Stent.durable(signals={"approval": Signal({"type": "object"}, approvers=["group:legal"])})
async def declared() -> Any:
    return await Stent.wait_for_signal("approval")


@Stent.durable()
async def malformed() -> Any:
    return await Stent.wait_for_signal("approval", approvers=["finance"])


async def _waiting(
    executor: Stent, workflow: Any, *args: Any, initiator: str = "iris@x.org"
) -> str:
    eid = await executor.start_execution(
        workflow, args=list(args), initiator={"email": initiator, "name": "Iris"}
    )
    await until_open_wait(executor, eid, "approval")
    return eid


async def test_a_wait_stores_its_approvers_normalized(executor: Stent):
    eid = await _waiting(executor, ask, FINANCE, False)
    wait = (await executor.state_of(eid)).waiting_on[0]
    assert wait.approvers == ("group:finance", "user:cfo@example.com")
    assert wait.allow_self is False and wait.initiator_email == "iris@x.org"


async def test_declared_approvers_apply_when_the_wait_names_none(executor: Stent):
    eid = await _waiting(executor, declared)
    wait = (await executor.state_of(eid)).waiting_on[0]
    assert wait.approvers == ("group:legal",)
    assert wait.schema == {"type": "object"}


async def test_a_malformed_approver_fails_the_workflow_clearly(executor: Stent):
    eid = await executor.dispatch(malformed)
    result = await executor.wait_for(eid, timeout=patience(10))
    assert not result.ok and "'group:<name>' or 'user:<email>'" in str(result.error)


async def test_waits_are_listed_for_the_principals_who_may_answer_them(executor: Stent):
    restricted = await _waiting(executor, ask, FINANCE, False)
    anyone = await _waiting(executor, ask, None, False)
    legal = await _waiting(executor, declared)

    async def listed(principals: list[str]) -> set[str]:
        page = await executor.list_waiting(principals=principals)
        assert await executor.count_waiting(principals=principals) == len(page.items)
        return {w.execution_id for w in page.items}

    assert await listed(["group:finance"]) == {restricted, anyone}
    assert await listed(["user:cfo@example.com"]) == {restricted, anyone}
    assert await listed(["group:legal", "user:bob@x.org"]) == {anyone, legal}
    assert await listed([]) == {anyone}
    assert len((await executor.list_waiting()).items) == 3


@pytest.mark.parametrize(("allow_self", "visible"), [(False, False), (True, True)])
async def test_an_initiator_does_not_see_their_own_waits_unless_allowed(
    executor: Stent, allow_self: bool, visible: bool
):
    eid = await _waiting(executor, ask, None, allow_self, initiator="Iris@X.org")
    mine = await executor.list_waiting(not_initiated_by="iris@x.org")
    assert (eid in {w.execution_id for w in mine.items}) is visible
    others = await executor.list_waiting(not_initiated_by="bob@x.org")
    assert eid in {w.execution_id for w in others.items}
