"""The definitions of open waits the dashboard has recently shown, so that answering one
needs no read before the write.

What the answer path takes from a ``WaitInfo`` (the execution, the name, the schema of
its form, the approvers, ``allow_self``, the initiator) is fixed when the wait opens: a
step is inserted once and never rewritten. Whether the wait is still open is not, and it
is never taken from here: ``send_signal(..., wait_id=...)`` checks it in its write
transaction (``WaitClosed``, ``ExecutionFinished``; a repeated idempotency key gets the
first answer's receipt back). A miss (another process, a restart, an old page) reads the
execution as before.
"""

from __future__ import annotations

from collections import OrderedDict

from app.engine import WaitInfo

WAIT_CACHE_SIZE = 10_000  # a WaitInfo with a small schema is ~2 KB: ~20 MB at most


class WaitCache:
    """The last ``size`` wait definitions shown, by (execution id, wait id)."""

    def __init__(self, size: int = WAIT_CACHE_SIZE) -> None:
        self.size = size
        self._waits: OrderedDict[tuple[str, int], WaitInfo] = OrderedDict()

    def keep(self, wait: WaitInfo) -> None:
        """Remember ``wait`` (an open wait just read from the executor)."""
        key = (wait.execution_id, wait.wait_id)
        self._waits[key] = wait
        self._waits.move_to_end(key)
        while len(self._waits) > self.size:
            self._waits.popitem(last=False)

    def get(self, execution_id: str, wait_id: int) -> WaitInfo | None:
        """The definition of that wait if it was kept; it may have closed since."""
        return self._waits.get((execution_id, wait_id))

    def forget(self, execution_id: str, wait_id: int) -> None:
        """Drop a wait that is answered or closed."""
        self._waits.pop((execution_id, wait_id), None)

    def __len__(self) -> int:
        return len(self._waits)
