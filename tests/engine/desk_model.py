"""A model of "What a signal is guaranteed" (README) for executions of ``instructed_desk``:
what each send must return or raise, and what the database must then hold; and the signals
the state machine test sends (every kind of payload for every name)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
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
)

from app.engine import (
    ExecutionFinished,
    IdempotencyKeyConflict,
    SignalReceipt,
    SignalRecord,
    SignalValidationError,
    StentError,
)

FITS, OFF_SCHEMA, NOT_JSON, TOO_BIG = "fits", "off-schema", "not JSON", "too big"


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
    # fitting twice as often as each other kind: most sends should move the workflow on
    kinds = [FITS, FITS, *([OFF_SCHEMA] if name in off_schema else []), NOT_JSON, TOO_BIG]
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
    """What is compared of a stored signal."""
    return (record.id, record.seq, record.name, json.dumps(record.payload, sort_keys=True),
            record.idempotency_key, record.state, record.consumed_by_step)  # fmt: skip


def expected(sent: Sent) -> tuple[Any, ...]:
    """The same, as the model expects it."""
    return (sent.receipt.signal_id, sent.receipt.seq, sent.draft.name, sent.draft.text,
            sent.key, sent.state, sent.consumed_by)  # fmt: skip
