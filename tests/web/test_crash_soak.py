"""A crash soak through HTTP: approvals keep their promises while the server is killed.

A real ``stent-desk serve`` on a real database holds 2,000 executions of
``workflows.approval`` waiting for approval. A load generator answers them, 16 at a time:
half through the execution page's form (development-login sessions, the page's CSRF token
and idempotency key, htmx posts), half through the signal API (an API token; half of those
with an ``Idempotency-Key``). A few executions get two people answering at once, a few
get an invalid API payload first. Meanwhile the server is killed with SIGKILL and started
again, 3 or 4 times, at moments drawn from a seeded random generator (as progress points,
so they fall inside the load on a fast machine or a slow one). At each moment the soak
aims: it freezes the server (SIGSTOP) and looks in the database for a request it stored
but has not answered (a keyed API request, a form, a keyless API request in turn), and
kills it there; after a few seconds without one it kills it anyway. An answer cut off
after the store is what retries and idempotency keys are for, and a blind kill seldom
hits it.
Clients behave as in ``soak_clients``: a refused connection is sent again, a dropped one
is "no answer", after which forms are resubmitted or reloaded, keyed API requests
retried, keyless ones given up.

The server runs with ``STENT_SQLITE_SYNCHRONOUS=NORMAL``: a SIGKILL is a crash of the
process, which NORMAL survives as FULL does (only a power loss tells them apart), and
FULL's fsyncs would make the soak much longer. PostgreSQL is not soaked here (yet).

Afterwards the database, read through the executor's public API, must say:

- **accepted** (200 from the form, 202 from the API): exactly one consumed signal is the
  request's (found by its idempotency key, or the ``reference`` in its payload), whether
  this attempt stored it or an earlier one the kill cut off: a retry then hears
  "already received" (the form) or ``"duplicate": true`` (the API), naming the first.
- **refused** (409 from the form: a rival answered first; 422 from the API: an invalid
  payload): nothing of the request is stored. A 409 after one's own attempt was stored
  before a kill would be wrong: the form recognizes its own key and says 200.
- **no answer** (dropped and given up): its signal is absent, or there once and consumed.
  Never twice: a retry with the same key is the same signal.
- any other status (a 5xx, another 4xx) is a finding in itself: a crash shows as a dropped
  connection, never as an error page.
- no execution holds two consumed signals or any signal no request sent; every execution
  whose wait was answered completes with that answer's approver, the others still wait.
- and the soak did its job: at least one kill cut off an answer after its store.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from killable_server import KillableServer
from patience import patience
from pg_databases import sqlite_only
from soak_clients import Person, Request, Service, create_token, is_stored

from app.engine import SignalRecord, Stent
from workflows.approval import approval_workflow

# Minutes, not the suite's 120 s: with other suites on the machine's two cores a restart
# alone can take 15 s. A bound against hanging, not an assertion.
pytestmark = [sqlite_only, pytest.mark.timeout(600)]

SEED = 20261202
EXECUTIONS = 2000
CONCURRENCY = 16
PEOPLE = (("Ann Approver", "ann@example.com"), ("Bob Builder", "bob@example.com"))
EXPECTED = {"form": {200, 409}, "api": {202, 422}}


@dataclass(frozen=True)
class Plan:
    """How one execution gets answered."""

    execution_id: str
    door: str  # "form" or "api"
    resubmit: bool = False  # form: after no answer, resubmit (else reload the page)
    rival: bool = False  # form: a second person answers at the same time
    key: str | None = None  # api: the Idempotency-Key, if any
    wrong_first: bool = False  # api: an invalid payload first


def plans(execution_ids: list[str], rng: random.Random) -> list[Plan]:
    """Alternate doors; the rest drawn from ``rng``."""
    return [
        Plan(eid, "form", resubmit=rng.random() < 0.5, rival=rng.random() < 0.08)
        if index % 2 == 0
        else Plan(
            eid,
            "api",
            key=f"soak-{index}" if rng.random() < 0.5 else None,
            wrong_first=rng.random() < 0.05,
        )
        for index, eid in enumerate(execution_ids)
    ]


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[KillableServer]:
    """The server, not started yet; stopped (SIGTERM) after the test."""
    unstarted = KillableServer(
        db_url,
        tmp_path,
        STENT_API_RATE_LIMIT="1000000/minute",  # one client address sends everything
        STENT_SQLITE_SYNCHRONOUS="NORMAL",  # see the module's docstring
    )
    try:
        yield unstarted
    finally:
        unstarted.stop()


async def waiting_executions(client: Stent, server: KillableServer, count: int) -> list[str]:
    """``count`` new executions, once every one waits for its approval: started by the
    client, run to their wait by the server (which resumes them as it starts)."""
    ids = [await client.start_execution(approval_workflow, args=[f"REQ-{n}"]) for n in range(count)]
    await asyncio.to_thread(server.start)
    async with asyncio.timeout(300):  # generous: the server runs them on a busy machine
        while len(await open_waits(client)) < count:
            await asyncio.sleep(1.0)
    return ids


async def open_waits(client: Stent) -> set[str]:
    """The executions with an open wait."""
    found: set[str] = set()
    after = None
    while True:
        page = await client.list_waiting(limit=500, after=after)
        found.update(wait.execution_id for wait in page.items)
        if page.next_cursor is None:
            return found
        after = page.next_cursor


class Load:
    """The clients, the plans they work through, and how far they are."""

    def __init__(
        self, ann: Person, bob: Person, service: Service, pending: set[Request], todo: list[Plan]
    ) -> None:
        self.ann, self.bob, self.service = ann, bob, service
        self.pending = pending  # sent, not answered yet
        self.todo = todo
        self.done = 0
        self.requests: list[Request] = []

    async def run(self) -> None:
        queue: asyncio.Queue[Plan] = asyncio.Queue()
        for plan in self.todo:
            queue.put_nowait(plan)
        await asyncio.gather(*(self._worker(queue) for _ in range(CONCURRENCY)))

    async def _worker(self, queue: asyncio.Queue[Plan]) -> None:
        while not queue.empty():
            plan = queue.get_nowait()
            self.requests.extend(await self._answer(plan))
            self.done += 1

    async def _answer(self, plan: Plan) -> list[Request]:
        if plan.door == "api":
            first = (
                [await self.service.approve_wrongly(plan.execution_id)] if plan.wrong_first else []
            )
            return [*first, await self.service.approve(plan.execution_id, plan.key)]
        if not plan.rival:
            return await self.ann.approve(plan.execution_id, plan.resubmit)
        both = await asyncio.gather(
            self.ann.approve(plan.execution_id, plan.resubmit),
            self.bob.approve(plan.execution_id, not plan.resubmit),
        )
        return [*both[0], *both[1]]

    async def reached(self, done: int) -> None:
        while self.done < done:
            await asyncio.sleep(0.01)


async def kill_and_restart(
    server: KillableServer, client: Stent, load: Load, rng: random.Random
) -> tuple[int, int]:
    """SIGKILL the server 3 or 4 times during the load, each time starting it again (a
    restart costs seconds of this machine's time, mostly importing the app). Each kill
    waits a moment for a request stored and not yet answered (of each kind in turn); how
    many found one."""
    kills = rng.randint(3, 4)
    moments = sorted(rng.sample(range(EXECUTIONS // 20, EXECUTIONS * 9 // 10), kills))
    found = 0
    for number, moment in enumerate(moments):
        await load.reached(moment)
        target = TARGETS[number % len(TARGETS)]
        hit = await stored_unanswered(server, client, load, target)
        if hit is None:  # none of this kind in flight now: any kind will do
            hit = await stored_unanswered(server, client, load, lambda r: True)
        found += hit is not None
        server.kill()  # frozen, or at once: nothing it stored is answered meanwhile
        await asyncio.to_thread(server.start)
    return kills, found


# What a kill aims at: a form, a keyed API request, a keyless one.
TARGETS: tuple[Callable[[Request], bool], ...] = (
    lambda r: r.door == "api" and r.key is not None,
    lambda r: r.door == "form",
    lambda r: r.door == "api" and r.key is None,
)


async def stored_unanswered(
    server: KillableServer, client: Stent, load: Load, target: Callable[[Request], bool]
) -> Request | None:
    """A ``target`` request the server stored and has not answered, if one shows within
    a few seconds: the moment a crash hurts most (its client cannot know it succeeded).
    The server is frozen (SIGSTOP) while the database is read, and left frozen when one
    is found, so that the answer cannot slip out before the kill."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience(4.0)  # a busy machine stores and answers slower
    while loop.time() < deadline:
        server.pause()
        for request in [r for r in load.pending if target(r)]:
            signals = await client.signals_of(request.execution_id)
            if request in load.pending and any(is_stored(request, s) for s in signals):
                return request
        server.resume()
        await asyncio.sleep(0.01)
    return None


def findings(requests: list[Request], signals: dict[str, list[SignalRecord]]) -> list[str]:
    """Every broken promise, in words; empty when the database keeps them all."""
    problems: list[str] = []
    by_key = {(r.execution_id, r.key): r for r in requests if r.key}
    by_reference = {(r.execution_id, r.reference): r for r in requests if r.reference}
    stored: dict[int, list[SignalRecord]] = {id(r): [] for r in requests}
    for eid, records in signals.items():
        consumed = [s for s in records if s.state == "consumed"]
        if len(consumed) > 1:
            problems.append(f"{eid} holds {len(consumed)} consumed signals: {consumed}")
        for signal in records:
            reference = (
                signal.payload.get("reference") if isinstance(signal.payload, dict) else None
            )
            owner = by_key.get((eid, signal.idempotency_key)) or by_reference.get((eid, reference))
            if owner is None:
                problems.append(f"{eid}: signal #{signal.seq} is no request's: {signal}")
                continue
            stored[id(owner)].append(signal)
            if signal.state != "consumed" or signal.payload.get("approver") != owner.approver:
                problems.append(f"{eid}: {owner} stored as {signal}")
    for request in requests:
        mine = stored[id(request)]
        if request.status is not None and request.status not in EXPECTED[request.door]:
            problems.append(f"unexpected status: {request}")
        if request.server_errors:
            problems.append(f"server errors: {request}")
        if request.outcome == "accepted" and len(mine) != 1:
            problems.append(f"accepted, but stored {len(mine)} times: {request} {mine}")
        if request.outcome == "refused" and mine:
            problems.append(f"refused, but stored: {request} {mine}")
        if request.outcome == "no answer" and len(mine) > 1:
            problems.append(f"no answer, and stored {len(mine)} times: {request} {mine}")
    return problems


async def outcome_findings(client: Stent, signals: dict[str, list[SignalRecord]]) -> list[str]:
    """An answered execution completes with its answer's approver; the others still wait."""
    problems: list[str] = []
    waiting = await open_waits(client)
    for eid, records in signals.items():
        consumed = [s for s in records if s.state == "consumed"]
        if not consumed:
            if eid not in waiting:
                problems.append(f"{eid} has no answer, yet no longer waits")
            continue
        result = await client.wait_for(eid, timeout=120)  # generous: not an assertion
        approved_by = result.unwrap()["approved_by"] if result.ok else result
        if approved_by != consumed[0].payload["approver"]:
            problems.append(f"{eid} finished as {result}, answered by {consumed[0]}")
    return problems


def figures(requests: list[Request], kills: int, found: int) -> str:
    """The run in numbers: requests by door and outcome, statuses, drops, kills."""
    outcomes = Counter((r.door, r.outcome) for r in requests)
    statuses = Counter((r.door, r.status) for r in requests)
    dropped = sum(1 for r in requests if r.drops)
    duplicates = sum(1 for r in requests if r.duplicate)
    return (
        f"kills {kills} ({found} between a store and its answer); "
        f"requests {len(requests)}; outcomes {dict(sorted(outcomes.items()))}; "
        f"statuses {dict(sorted(statuses.items(), key=str))}; "
        f"requests with a dropped attempt {dropped}; "
        f"answered as a duplicate of an attempt cut off {duplicates}"
    )


async def test_every_answer_is_stored_once_across_kill_9(
    server: KillableServer, db_url: str
) -> None:
    rng = random.Random(SEED)
    # the setup's own writes need not survive a power loss: the soak is about the server's
    async with Stent(db_url, run_worker=False, sqlite_synchronous="NORMAL") as client:
        execution_ids = await waiting_executions(client, server, EXECUTIONS)
        timeout = httpx.Timeout(60.0)
        async with (
            httpx.AsyncClient(base_url=server.url, timeout=timeout) as ann_http,
            httpx.AsyncClient(base_url=server.url, timeout=timeout) as bob_http,
            httpx.AsyncClient(base_url=server.url, timeout=timeout) as admin_http,
            httpx.AsyncClient(base_url=server.url, timeout=timeout) as service_http,
        ):
            pending: set[Request] = set()
            ann = Person(ann_http, *PEOPLE[0], pending=pending)
            bob = Person(bob_http, *PEOPLE[1], pending=pending)
            admin = Person(admin_http, "Ada Admin", "ada@example.com", "stent-admins")
            for person in (ann, bob, admin):
                await person.login()
            token = await create_token(admin_http, "soak-service")
            service = Service(service_http, token, pending)
            load = Load(ann, bob, service, pending, plans(execution_ids, rng))
            (kills, found), _ = await asyncio.gather(
                kill_and_restart(server, client, load, rng), load.run()
            )
        signals = {eid: await client.signals_of(eid) for eid in execution_ids}
        print(figures(load.requests, kills, found))
        assert findings(load.requests, signals) == []
        assert found > 0, "no kill fell between a store and its answer: no retry was tested"
        assert await outcome_findings(client, signals) == []
