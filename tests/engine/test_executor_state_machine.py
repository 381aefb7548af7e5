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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import pytest
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
from instructed_desk import (
    AMOUNT,
    APPROVAL,
    DECLARED,
    FAIL,
    FINISH,
    NAMES,
    NEXT,
    NOTE,
    ON_WAIT,
    WAITABLE,
    desk,
)
from pg_databases import DATABASES, database_for

from app.engine import (
    ExecutionCancelled,
    ExecutionDetail,
    ExecutionFinished,
    ExecutionNotFound,
    IdempotencyKeyConflict,
    SignalReceipt,
    SignalRecord,
    SignalValidationError,
    Stent,
    StentError,
)

T = TypeVar("T")
FITS, OFF_SCHEMA, NOT_JSON, TOO_BIG = "fits", "off-schema", "not JSON", "too big"
CANCEL = "cancel"
SETTLE_SECONDS = 30.0  # liveness only: a step that never settles is a failure, not a wait
MACHINE_SETTINGS = settings(
    max_examples=25,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass(frozen=True)
class Draft:
    """A signal about to be sent, and what its payload is: one that fits the name's schema,
    one off it, one that is not JSON, or one over the size limit."""

    name: str
    payload: Any  # None for TOO_BIG: ``value`` makes it, so that failures print short
    kind: str

    @property
    def value(self) -> Any:
        """What is sent."""
        return {"blob": "x" * (256 * 1024)} if self.kind == TOO_BIG else self.payload

    @property
    def text(self) -> str:
        """The payload as canonical JSON: two payloads are the same when these are."""
        return json.dumps(self.payload, sort_keys=True)


tags = st.integers(0, 3)
instructions = st.fixed_dictionaries(
    {"then": st.sampled_from([*WAITABLE, FINISH, FAIL]), "n": tags}
)
fitting = {
    NEXT: instructions,
    APPROVAL: st.fixed_dictionaries({"approved": st.booleans(), "n": tags}),
    AMOUNT: st.fixed_dictionaries({"cents": st.integers(0, 10**6), "n": tags}),
    NOTE: st.one_of(tags, st.text(max_size=3), st.lists(tags, max_size=2), st.just(None)),
}
off_schema = {
    NEXT: st.sampled_from([{"then": "later"}, {"n": 1}, "finish"]),
    APPROVAL: st.sampled_from([{"approved": "yes"}, {"n": 2}, []]),
    AMOUNT: st.sampled_from([{"cents": -1}, {"cents": "12"}, {}]),
}


@st.composite
def drafts(draw: st.DrawFn) -> Draft:
    """Any signal of the desk's names, with any kind of payload."""
    name = draw(st.sampled_from(NAMES))
    kinds = [FITS, NOT_JSON, TOO_BIG, *([OFF_SCHEMA] if name in off_schema else [])]
    kind = draw(st.sampled_from(kinds))
    if kind == FITS:
        return Draft(name, draw(fitting[name]), kind)
    if kind == OFF_SCHEMA:
        return Draft(name, draw(off_schema[name]), kind)
    if kind == NOT_JSON:
        return Draft(name, {"n": float("nan")}, kind)
    return Draft(name, None, kind)


# Signals whose acceptance does not depend on timing: for concurrent sends (no finishing).
calm_drafts = st.one_of(
    st.builds(
        Draft, st.just(NEXT), instructions.filter(lambda i: i["then"] in WAITABLE), st.just(FITS)
    ),
    *(st.builds(Draft, st.just(name), fitting[name], st.just(FITS)) for name in WAITABLE),
)
keys = st.one_of(st.none(), st.sampled_from(["k1", "k2", "k3"]))


@dataclass
class Sent:
    """An accepted signal, as the model expects to find it stored."""

    receipt: SignalReceipt
    draft: Draft
    key: str | None
    state: str = "buffered"  # then consumed, or unconsumed once the execution finished
    consumed_by: int | None = None


@dataclass
class Model:
    """One execution of ``desk`` as the guarantees say it must be."""

    eid: str
    signals: list[Sent] = field(default_factory=list)
    state: str = "running"
    step: int = 1  # the step number of its open wait (its waits are its only steps)
    waiting_on: str = NEXT
    taken: list[Any] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.state != "running"

    @property
    def where(self) -> tuple[str, list[tuple[str, int]]]:
        """Its state and open waits, as ``state_of`` must show them."""
        return (self.state, [] if self.finished else [(self.waiting_on, self.step)])

    def by_key(self, key: str | None) -> Sent | None:
        return next((s for s in self.signals if key is not None and s.key == key), None)

    def checks(self, name: str) -> bool:
        """Whether a send of ``name`` is validated now: a declared schema, or an open wait's."""
        return name in DECLARED or (name in ON_WAIT and self.where[1] == [(name, self.step)])

    def refusal(self, draft: Draft, key: str | None) -> type[StentError] | None:
        """The error the guarantees say sending ``draft`` raises; None: stored, or a
        duplicate of the signal first sent with ``key``."""
        if draft.kind in (NOT_JSON, TOO_BIG):
            return SignalValidationError
        earlier = self.by_key(key)
        if earlier is not None:
            same = (earlier.draft.name, earlier.draft.text) == (draft.name, draft.text)
            return None if same else IdempotencyKeyConflict
        if self.finished:
            return ExecutionFinished
        if draft.kind == OFF_SCHEMA and self.checks(draft.name):
            return SignalValidationError
        return None

    def taken_at_once(self, name: str) -> int | None:
        """The step a signal of ``name`` sent now is consumed by in the send itself."""
        return None if self.finished or self.waiting_on != name else self.step

    def accept(self, receipt: SignalReceipt, draft: Draft, key: str | None) -> None:
        """A signal stored now; once finished (it committed just before), kept unconsumed."""
        self.signals.append(
            Sent(receipt, draft, key, "unconsumed" if self.finished else "buffered")
        )
        self.run()

    def run(self) -> None:
        """The workflow: its open wait takes the oldest buffered signal of its name, and it
        moves on to its next wait, until no signal is left for the wait it is at."""
        while not self.finished:
            oldest = next(
                (
                    s
                    for s in self.signals
                    if s.state == "buffered" and s.draft.name == self.waiting_on
                ),
                None,
            )
            if oldest is None:
                return
            oldest.state, oldest.consumed_by = "consumed", self.step
            self.step += 1
            if self.waiting_on != NEXT:
                self.taken.append(oldest.draft.payload)
                self.waiting_on = NEXT
            elif oldest.draft.payload["then"] in (FINISH, FAIL):
                self.end("completed" if oldest.draft.payload["then"] == FINISH else "failed")
            else:
                self.waiting_on = oldest.draft.payload["then"]

    def end(self, state: str) -> None:
        """Finished: what was still buffered is kept as unconsumed."""
        self.state = state
        for sent in self.signals:
            if sent.state == "buffered":
                sent.state = "unconsumed"


def stored(record: SignalRecord) -> tuple[Any, ...]:
    return (record.id, record.seq, record.name, json.dumps(record.payload, sort_keys=True),
            record.idempotency_key, record.state, record.consumed_by_step)  # fmt: skip


def expected(sent: Sent) -> tuple[Any, ...]:
    return (sent.receipt.signal_id, sent.receipt.seq, sent.draft.name, sent.draft.text,
            sent.key, sent.state, sent.consumed_by)  # fmt: skip


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
