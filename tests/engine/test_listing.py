"""Listing open waits and executions: filters and keyset pagination."""

from __future__ import annotations

from typing import Any

from engine_helpers import until_open_wait
from patience import patience

from app.engine import Stent


@Stent.durable()
async def asks(name: str, title: str) -> Any:
    return await Stent.wait_for_signal(name, title=title, schema={"type": "object"})


@Stent.durable()
async def other(name: str) -> Any:
    return await Stent.wait_for_signal(name)


async def _dispatch_all(executor: Stent) -> list[str]:
    ids = []
    for n in range(7):
        eid = await executor.dispatch(asks, "approval" if n % 2 == 0 else "review", f"#{n}")
        await until_open_wait(executor, eid, "approval" if n % 2 == 0 else "review")
        ids.append(eid)
    eid = await executor.dispatch(other, "approval")
    await until_open_wait(executor, eid, "approval")
    ids.append(eid)
    return ids


async def test_open_waits_are_listed_oldest_first_page_by_page(executor: Stent):
    ids = await _dispatch_all(executor)
    seen, cursor = [], None
    while True:
        page = await executor.list_waiting(limit=3, after=cursor)
        assert len(page.items) <= 3
        seen += page.items
        cursor = page.next_cursor
        if cursor is None:
            break
    assert [w.execution_id for w in seen] == ids
    first = seen[0]
    assert (first.name, first.title, first.schema) == ("approval", "#0", {"type": "object"})
    assert first.workflow.endswith("test_listing.asks")


async def test_open_waits_filter_by_workflow_and_signal_name(executor: Stent):
    ids = await _dispatch_all(executor)
    approvals = await executor.list_waiting(name="approval")
    assert [w.execution_id for w in approvals.items] == [ids[0], ids[2], ids[4], ids[6], ids[7]]
    of_asks = await executor.list_waiting(workflow=asks.name, name="approval")
    assert [w.execution_id for w in of_asks.items] == [ids[0], ids[2], ids[4], ids[6]]
    assert (await executor.list_waiting(name="nothing")).items == []


async def test_an_answered_wait_leaves_the_list(executor: Stent):
    ids = await _dispatch_all(executor)
    await executor.send_signal(ids[0], "approval", {})
    await executor.wait_for(ids[0], timeout=patience(10))
    listed = [w.execution_id for w in (await executor.list_waiting(limit=50)).items]
    assert ids[0] not in listed and len(listed) == 7


async def test_executions_filter_by_state_workflow_and_waiting(executor: Stent):
    ids = await _dispatch_all(executor)
    await executor.send_signal(ids[1], "review", {})
    await executor.wait_for(ids[1], timeout=patience(10))
    completed = await executor.list_executions(state="completed")
    assert [e.id for e in completed.items] == [ids[1]]
    waiting = await executor.list_executions(waiting=True, limit=100)
    assert sorted(e.id for e in waiting.items) == sorted(ids[:1] + ids[2:])
    assert all(e.open_waits == 1 for e in waiting.items)
    not_waiting = await executor.list_executions(waiting=False)
    assert [e.id for e in not_waiting.items] == [ids[1]]
    mine = await executor.list_executions(workflow=other.name)
    assert [e.id for e in mine.items] == [ids[7]]
    page = await executor.list_executions(limit=5)
    rest = await executor.list_executions(limit=5, after=page.next_cursor)
    assert [e.id for e in page.items + rest.items] == list(reversed(ids))
    assert rest.next_cursor is None


async def test_open_waits_filter_by_age_and_execution_id_and_are_counted(executor: Stent):
    ids = await _dispatch_all(executor)
    waits = (await executor.list_waiting()).items
    cutoff = waits[2].since
    older = await executor.list_waiting(opened_before=cutoff)
    assert [w.execution_id for w in older.items] == ids[:3]
    assert await executor.count_waiting(opened_before=cutoff) == 3
    assert await executor.count_waiting() == 8
    assert await executor.count_waiting(name="review") == 3
    found = await executor.list_waiting(execution_id=ids[5][:8].upper())
    assert [w.execution_id for w in found.items] == [ids[5]]
    assert (await executor.list_waiting(execution_id="%")).items == []


async def test_open_waits_can_be_listed_newest_first(executor: Stent):
    ids = await _dispatch_all(executor)
    first = await executor.list_waiting(limit=5, newest_first=True)
    rest = await executor.list_waiting(limit=5, newest_first=True, after=first.next_cursor)
    assert [w.execution_id for w in first.items + rest.items] == list(reversed(ids))
