"""Property: whatever the interleaving of sends, evictions and restarts, each wait gets
the signals of its name in order, and no signal is lost or delivered twice."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from patience import patience

from app.engine import ExecutionFinished, Stent

NAMES = ("a", "b")


@Stent.durable()
async def consume(plan: list[str]) -> list[Any]:
    """Waits on the names of ``plan`` one after another."""
    return [await Stent.wait_for_signal(name) for name in plan]


operations = st.lists(
    st.one_of(
        st.tuples(st.just("send"), st.sampled_from(NAMES)),
        st.tuples(st.just("burst"), st.sampled_from(NAMES)),
        st.just(("evict",)),
        st.just(("restart",)),
        st.just(("pause",)),
    ),
    max_size=12,
)
plans = st.lists(st.sampled_from(NAMES), min_size=1, max_size=6)
_counter = itertools.count()


async def _run(url: str, plan: list[str], ops: list[tuple[str, ...]]) -> None:
    sent = {name: 0 for name in NAMES}
    refused: list[str] = []
    executor = Stent(url, poll_interval=0.02)
    await executor.start()
    try:
        eid = await executor.dispatch(consume, plan)

        async def send(name: str) -> None:
            number = sent[name]
            sent[name] += 1
            try:
                await executor.send_signal(eid, name, f"{name}{number}")
            except ExecutionFinished:
                refused.append(f"{name}{number}")  # only once every wait was answered

        for op in ops:
            if op[0] == "send":
                await send(op[1])
            elif op[0] == "burst":
                names = [op[1]] * 3
                await asyncio.gather(*(send(n) for n in names))
            elif op[0] == "evict":
                await executor.evict(eid)
            elif op[0] == "restart":
                await executor.stop()
                executor = Stent(url, poll_interval=0.02)
                await executor.start()
            else:
                await asyncio.sleep(0.005)
            if (await executor.state_of(eid)).finished:
                break
        for name in NAMES:
            for _ in range(max(0, plan.count(name) - sent[name])):
                await send(name)
        result = (await executor.wait_for(eid, timeout=patience(20))).unwrap()
        signals = await executor.signals_of(eid)
    finally:
        await executor.stop()

    # the k-th wait on a name got the k-th signal of that name
    seen = {name: 0 for name in NAMES}
    expected = []
    for name in plan:
        expected.append(f"{name}{seen[name]}")
        seen[name] += 1
    assert result == expected
    # every accepted signal is stored once; consumed exactly by the waits, the rest kept
    assert sorted(s.payload for s in signals) == sorted(
        f"{n}{i}" for n in NAMES for i in range(sent[n]) if f"{n}{i}" not in refused
    )
    consumed = [s for s in signals if s.state == "consumed"]
    assert sorted(s.payload for s in consumed) == sorted(expected)
    assert len({s.consumed_by_step for s in consumed}) == len(consumed)
    assert all(s.state == "unconsumed" for s in signals if s.state != "consumed")


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(plan=plans, ops=operations)
def test_each_wait_gets_its_names_signals_in_order_none_lost_or_doubled(
    tmp_path: Path, plan: list[str], ops: list[tuple[str, ...]]
) -> None:
    # SQLite only for now: 40 examples, each on a database of its own, would add ~10 s on
    # PostgreSQL (a database copy each); the same semantics run there in the other tests.
    url = f"sqlite+aiosqlite:///{tmp_path}/prop-{next(_counter)}.db"
    asyncio.run(_run(url, plan, ops))
