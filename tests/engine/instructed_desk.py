"""The workflow the executor's state machine drives: it waits for whichever signal its
instructions name, so a test decides what is waited on, in which order, and when it ends.

Its signals cover each way a schema can apply: declared on the decorator (``next``,
``approval``: checked on every send), given on the wait only (``amount``: checked while that
wait is open), and none (``note``: any JSON value).
"""

from __future__ import annotations

from typing import Any

from app.engine import Stent

NEXT = "next"  # an instruction: {"then": one of WAITABLE, FINISH or FAIL}
APPROVAL = "approval"
AMOUNT = "amount"
NOTE = "note"
WAITABLE = (APPROVAL, AMOUNT, NOTE)
NAMES = (NEXT, *WAITABLE)
FINISH = "finish"
FAIL = "fail"

INSTRUCTION_SCHEMA = {
    "type": "object",
    "properties": {"then": {"enum": [*WAITABLE, FINISH, FAIL]}},
    "required": ["then"],
}
APPROVAL_SCHEMA = {
    "type": "object",
    "properties": {"approved": {"type": "boolean"}},
    "required": ["approved"],
}
AMOUNT_SCHEMA = {
    "type": "object",
    "properties": {"cents": {"type": "integer", "minimum": 0}},
    "required": ["cents"],
}
DECLARED = {NEXT: INSTRUCTION_SCHEMA, APPROVAL: APPROVAL_SCHEMA}  # checked on every send
ON_WAIT = {AMOUNT: AMOUNT_SCHEMA}  # checked only while a wait with it is open


@Stent.durable(signals=DECLARED)
async def desk() -> list[Any]:
    """Waits for an instruction, then for the signal it names, over and over; returns what
    those waits got once told to finish (and fails once told to fail)."""
    taken: list[Any] = []
    while True:
        instruction = await Stent.wait_for_signal(NEXT)
        then = instruction["then"]
        if then == FINISH:
            return taken
        if then == FAIL:
            raise RuntimeError(f"told to fail after {len(taken)} signals")
        taken.append(await Stent.wait_for_signal(then, schema=ON_WAIT.get(then)))
