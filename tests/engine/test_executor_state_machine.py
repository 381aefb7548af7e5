"""The executor as a state machine: dispatch, send, instruct, cancel, evict and restart in any
order, on SQLite and on PostgreSQL; after every step, what the database holds (``signals_of``,
``steps_of``, ``state_of``) and every receipt match a model of "What a signal is guaranteed".

Each example runs on a new SQLite file; on PostgreSQL, all run on the test's own database,
each with executions of its own (see ``example_urls``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest
from desk_model import (
    FITS,
    NOT_JSON,
    TOO_BIG,
    Draft,
    Model,
    calm_drafts,
    drafts,
    expected,
    keys,
    stored,
)
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from instructed_desk import FAIL, FINISH, NAMES, NEXT, desk
from pg_databases import DATABASES, database_for

from app.engine import (
    ExecutionCancelled,
    ExecutionDetail,
    ExecutionFinished,
    ExecutionNotFound,
    SignalReceipt,
    SignalValidationError,
    Stent,
    StentError,
)

T = TypeVar("T")
CANCEL = "cancel"
SETTLE_SECONDS = 30.0  # liveness only: a step that never settles is a failure, not a wait
MACHINE_SETTINGS = settings(
    max_examples=25,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class ExecutorMachine(RuleBasedStateMachine):
    """Runs every rule's coroutine on one event loop of its own, kept for the example."""

    executions = Bundle("executions")
    keyed = Bundle("keyed")  # (execution, draft, key) of signals stored with a key

    def __init__(self, url: str) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.url = url
        self.executor: Stent | None = None
        self.models: dict[str, Model] = {}
        self.seen: dict[str, ExecutionDetail] = {}  # what the database held after the step

    def run(self, coro: Awaitable[T]) -> T:
        return self.runner.run(coro)  # type: ignore[arg-type]

    @property
    def stent(self) -> Stent:
        assert self.executor is not None
        return self.executor

    def open(self, idle_eviction_seconds: float, max_resident: int) -> None:
        self.executor = Stent(
            self.url,
            poll_interval=0.02,
            idle_eviction_seconds=idle_eviction_seconds,
            max_resident=max_resident,
        )
        self.run(self.executor.start())

    def teardown(self) -> None:
        try:
            if self.executor is not None:
                for model in self.models.values():
                    if not model.finished:  # a later example on this database resumes none
                        self.run(self.executor.cancel(model.eid))
                self.run(self.executor.stop())
        finally:
            self.runner.close()

    # ------------------------------------------------------------------ the rules
    @initialize(
        target=executions,
        idle_eviction_seconds=st.sampled_from([30.0, 0.0]),
        max_resident=st.sampled_from([1000, 1]),
    )
    def start(self, idle_eviction_seconds: float, max_resident: int) -> str:
        """An executor that keeps idle executions, or evicts them as soon as it can, with
        one execution waiting for its first instruction."""
        self.open(idle_eviction_seconds, max_resident)
        return self.dispatch()

    @precondition(lambda self: len(self.models) < 3)
    @rule(target=executions)
    def dispatch(self) -> str:
        eid = self.run(self.stent.dispatch(desk))
        self.models[eid] = Model(eid)
        self.settle()
        return eid

    @rule(target=keyed, execution=executions, draft=drafts(), key=keys)
    def send(self, execution: str, draft: Draft, key: str | None) -> Any:
        stored_with_key = self.send_and_check(self.models[execution], draft, key)
        self.settle()
        return (execution, draft, key) if stored_with_key else multiple()

    @rule(earlier=keyed, change=st.sampled_from(["nothing", "payload", "name"]), data=st.data())
    def send_again(self, earlier: tuple[str, Draft, str], change: str, data: st.DataObject) -> None:
        """The same key again: with the same signal, another payload, or another name; to
        the same execution or to another one (where the key is new)."""
        execution, draft, key = earlier
        if change == "payload":
            draft = replace(draft, payload={"again": draft.payload})
        elif change == "name":
            draft = replace(
                draft, name=data.draw(st.sampled_from([n for n in NAMES if n != draft.name]))
            )
        others = [eid for eid in self.models if eid != execution]  # in dispatch order
        target = data.draw(st.sampled_from([execution, *others]), label="to")
        self.send_and_check(self.models[target], draft, key)
        self.settle()

    @rule(
        execution=executions,
        batch=st.lists(calm_drafts, min_size=2, max_size=4),
        twin=st.booleans(),
    )
    def send_at_once(self, execution: str, batch: list[Draft], twin: bool) -> None:
        """Concurrent sends: whichever order they commit in (their seq), FIFO and
        exactly-once hold in it; a ``twin`` is the first one sent twice with one key.

        None of them finishes the execution, but an instruction buffered before may: the
        sends committed before that finish are kept as unconsumed, the later ones refused.
        """
        model = self.models[execution]
        sends = [(draft, None) for draft in batch]
        if twin:
            sends = [(batch[0], f"twin-{len(model.signals)}"), *sends]
            sends[1] = sends[0]

        async def together() -> list[SignalReceipt | BaseException]:
            return await asyncio.gather(
                *(
                    self.stent.send_signal(model.eid, d.name, d.value, idempotency_key=k)
                    for d, k in sends
                ),
                return_exceptions=True,
            )

        outcomes = self.run(together())
        if twin and all(isinstance(o, SignalReceipt) for o in outcomes[:2]):
            first, second = sorted(outcomes[:2], key=lambda r: r.duplicate)  # type: ignore[union-attr]
            assert (first.duplicate, second.duplicate) == (False, True), outcomes[:2]
            assert replace(second, duplicate=False, consumed_by_step=None) == replace(
                first, consumed_by_step=None
            )
        fresh = [
            (o, d, k)
            for o, (d, k) in zip(outcomes, sends, strict=True)
            if isinstance(o, SignalReceipt) and not o.duplicate
        ]
        for receipt, draft, key in sorted(fresh, key=lambda f: f[0].seq):
            self.check_receipt(model, draft, receipt, {None, model.taken_at_once(draft.name)})
            model.accept(receipt, draft, key)
        refused = [o for o in outcomes if not isinstance(o, SignalReceipt)]
        assert all(isinstance(o, ExecutionFinished) for o in refused), refused
        assert model.finished or not refused, refused
        self.settle()

    @rule(draft=drafts(), key=keys, eid=st.uuids())
    def send_to_unknown(self, draft: Draft, key: str | None, eid: uuid.UUID) -> None:
        """No execution has that id: refused, and no execution appears."""
        wanted = SignalValidationError if draft.kind in (NOT_JSON, TOO_BIG) else ExecutionNotFound
        with pytest.raises(wanted):
            self.run(self.stent.send_signal(str(eid), draft.name, draft.value, idempotency_key=key))
        with pytest.raises(ExecutionNotFound):
            self.run(self.stent.signals_of(str(eid)))

    @rule(execution=executions, how=st.sampled_from([FINISH, FAIL, CANCEL]))
    def end(self, execution: str, how: str) -> None:
        """Tell it to finish or to fail (it does once it reads that instruction), or cancel
        it (at once; False when it had already finished)."""
        model = self.models[execution]
        if how == CANCEL:
            assert self.run(self.stent.cancel(execution)) is not model.finished
            if not model.finished:
                model.end("cancelled")
        else:
            self.send_and_check(model, Draft(NEXT, {"then": how}, FITS), None)
        self.settle()

    @rule(execution=executions)
    def evict(self, execution: str) -> None:
        """Drop it from memory; it replays from its history on its next signal."""
        self.run(self.stent.evict(execution, timeout=10.0))
        assert execution not in self.stent.resident()
        self.settle()

    @rule(
        idle_eviction_seconds=st.sampled_from([30.0, 0.0]), max_resident=st.sampled_from([1000, 1])
    )
    def restart(self, idle_eviction_seconds: float, max_resident: int) -> None:
        """Close the executor and open a new one on the same database: every unfinished
        execution resumes by replay."""
        self.run(self.stent.stop())
        self.executor = None
        self.open(idle_eviction_seconds, max_resident)
        self.settle()

    # ------------------------------------------------------------------ checking a send
    def send_and_check(self, model: Model, draft: Draft, key: str | None) -> bool:
        """Send ``draft`` and check the outcome with the guarantees; True if it was stored
        now (not refused, not a duplicate) with a key."""
        refusal = model.refusal(draft, key)
        try:
            receipt = self.run(
                self.stent.send_signal(model.eid, draft.name, draft.value, idempotency_key=key)
            )
        except StentError as error:
            assert type(error) is refusal, f"{draft} (key {key!r}): {error!r}, not {refusal}"
            if isinstance(error, ExecutionFinished):
                assert error.state == model.state
            return False
        assert refusal is None, f"{draft} (key {key!r}) was accepted: {receipt}; not {refusal}"
        earlier = model.by_key(key)
        if earlier is not None:  # the first receipt, as it stands now
            assert receipt == replace(
                earlier.receipt, duplicate=True, consumed_by_step=earlier.consumed_by
            )
            return False
        self.check_receipt(model, draft, receipt, {model.taken_at_once(draft.name)})
        model.accept(receipt, draft, key)
        return key is not None

    def check_receipt(
        self, model: Model, draft: Draft, receipt: SignalReceipt, taken_by: set[int | None]
    ) -> None:
        """A new signal's receipt: its own id, the next seq, and the wait it went to."""
        assert (receipt.execution_id, receipt.name, receipt.duplicate) == (
            model.eid,
            draft.name,
            False,
        )
        assert receipt.signal_id not in {s.receipt.signal_id for s in model.signals}
        assert all(receipt.seq > s.receipt.seq for s in model.signals), receipt
        assert receipt.consumed_by_step in taken_by, (receipt, taken_by)

    # ------------------------------------------------------------------ reading back
    def settle(self) -> None:
        """Wait until every execution stands where the model says (its workflow took what
        it could and opened its next wait), then read what the database holds."""
        self.run(self._settle())

    async def _settle(self) -> None:
        for eid, model in self.models.items():
            try:
                async with asyncio.timeout(SETTLE_SECONDS):
                    # one read: state, steps and signals consistent with each other
                    while where(seen := await self.stent.execution_detail(eid)) != model.where:
                        await asyncio.sleep(0.005)
            except TimeoutError:
                raise AssertionError(f"{eid} stands at {where(seen)}, not {model.where}") from None
            self.seen[eid] = seen

    # ------------------------------------------------------------------ the guarantees
    @invariant()
    def stored_signals_are_the_accepted_ones(self) -> None:
        """Every accepted signal is stored once (a duplicate adds nothing, a refusal
        nothing), in seq order, consumed by the wait the model says or still kept."""
        for eid, seen in self.seen.items():
            assert [stored(s) for s in seen.signals] == [
                expected(s) for s in self.models[eid].signals
            ]

    @invariant()
    def each_answered_wait_took_exactly_one_signal(self) -> None:
        """Exactly once: a done wait consumed one signal of its name, whose payload it
        returned; no signal was consumed by two waits."""
        for seen in self.seen.values():
            taken = [s.consumed_by_step for s in seen.signals if s.state == "consumed"]
            assert len(taken) == len(set(taken)), seen.signals
            for step in seen.steps:
                by = [s for s in seen.signals if s.consumed_by_step == step.step_no]
                if step.kind == "wait" and step.status == "done":
                    assert [(s.name, s.payload) for s in by] == [(step.name, step.result)], step
                else:
                    assert by == [], (step, by)

    @invariant()
    def each_name_is_a_fifo_queue(self) -> None:
        """Waits on a name took its signals oldest first: the consumed ones are the oldest,
        and went to waits in the order they were sent."""
        for seen in self.seen.values():
            for name in NAMES:
                queue = [s for s in seen.signals if s.name == name]
                consumed = [s for s in queue if s.state == "consumed"]
                assert queue[: len(consumed)] == consumed, queue
                steps = [s.consumed_by_step or 0 for s in consumed]
                assert steps == sorted(steps), consumed

    @invariant()
    def finished_executions_keep_their_outcome(self) -> None:
        """A finished execution keeps its result: what its waits got, its failure, or its
        cancellation; an unfinished one has none."""
        for eid, seen in self.seen.items():
            model = self.models[eid]
            result = seen.state.result
            if model.state == "completed":
                assert result is not None and result.ok
                assert json.dumps(result.value, sort_keys=True) == json.dumps(
                    model.taken, sort_keys=True
                )
            elif model.state == "failed":
                assert result is not None and isinstance(result.error, RuntimeError), result
            elif model.state == "cancelled":
                assert result is not None and isinstance(result.error, ExecutionCancelled), result
            else:
                assert result is None, result


def where(detail: ExecutionDetail) -> tuple[str, list[tuple[str, int]]]:
    """Its state and open waits."""
    return (detail.state.state, [(w.name, w.step_no) for w in detail.state.waiting_on])


@pytest.fixture(params=DATABASES)
def example_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Where each example runs: a new SQLite file; or, on PostgreSQL, the test's own database
    (``database_for``), each example with new executions, cancelled at its end. A copy of
    the template per example cost about a second each in CREATE and DROP DATABASE here."""
    if request.param == "sqlite":
        files = itertools.count()
        yield lambda: f"sqlite+aiosqlite:///{tmp_path}/machine-{next(files)}.db"
        return
    urls = database_for(request, tmp_path / "unused.db")
    url = next(urls)
    try:
        yield lambda: url
    finally:
        urls.close()  # drops it


@pytest.mark.timeout(900)  # hypothesis shrinking a failure may take a while; never a pass
def test_signal_guarantees_hold_whatever_the_executor_goes_through(
    example_urls: Callable[[], str],
) -> None:
    run_state_machine_as_test(lambda: ExecutorMachine(example_urls()), settings=MACHINE_SETTINGS)
