"""This worker process among the others on one database: joining, the heartbeat that
renews its leases, claiming what nobody runs, and leaving (see ``leases`` for the SQL)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from . import leases
from .database import Database

log = logging.getLogger("stent")
Claimed = list[tuple[str, str]]  # (execution id, workflow) of executions just claimed


class Membership:
    """Keeps ``worker_id`` registered, its leases renewed and unowned work claimed.

    ``adopt`` runs executions just claimed; ``drop_all`` forgets every execution in memory
    (this worker was taken for dead, so they may run elsewhere now).
    """

    def __init__(
        self,
        db: Database,
        worker_id: str,
        lease_seconds: float,
        clock: Callable[[], float],
        adopt: Callable[[Claimed], None],
        drop_all: Callable[[], None],
    ) -> None:
        self.db = db
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.adopt = adopt
        self.drop_all = drop_all
        self._wanted = asyncio.Event()

    async def join(self) -> None:
        """Register, then claim everything nobody runs (batch after batch)."""
        await self.db.write(leases.register, self.worker_id)
        while await self.claim_round(at_start=True):
            pass

    async def leave(self) -> None:
        """Hand every unfinished execution back, so that another worker (or a restart)
        takes them at once, and unregister."""
        try:
            await self.db.write(leases.release, self.worker_id, self.clock())
        except Exception:
            log.warning(
                "could not hand executions back; they are taken over once the "
                "lease of %s s expires",
                self.lease_seconds,
                exc_info=True,
            )

    def want_claim(self) -> None:
        """Some execution has no owner: claim now rather than at the next heartbeat."""
        self._wanted.set()

    async def keep(self) -> None:
        """Heartbeat every third of the lease; claim whenever asked or at each beat."""
        interval = self.lease_seconds / 3
        renewed = time.monotonic()
        while True:
            try:
                await asyncio.wait_for(self._wanted.wait(), interval)
            except TimeoutError:
                pass
            self._wanted.clear()
            try:
                if time.monotonic() - renewed >= interval:
                    if not await self.db.write(leases.heartbeat, self.worker_id):
                        await self._rejoin()
                    renewed = time.monotonic()
                while await self.claim_round(at_start=False):
                    pass
            except Exception:
                log.warning("lease upkeep failed; retrying", exc_info=True)

    async def _rejoin(self) -> None:
        """Taken for dead (paused past its lease): drop everything and start over."""
        log.error("worker %s missed its lease; dropping its executions", self.worker_id)
        self.drop_all()
        await self.db.write(leases.release, self.worker_id, self.clock())
        await self.db.write(leases.register, self.worker_id)

    async def claim_round(self, at_start: bool) -> bool:
        """Claim a batch of unowned executions and executions of dead workers and adopt
        them; True when the batch was full (there may be more)."""
        claimed = await self.db.write(_claim, self.worker_id, self.lease_seconds, at_start)
        self.adopt(claimed)
        return len(claimed) >= leases.CLAIM_BATCH


def _claim(tx: Any, me: str, lease_seconds: float, at_start: bool) -> list[Any]:
    """One claim transaction: find dead workers, then take a batch (if there is work)."""
    dead = leases.dead_workers(tx, me, lease_seconds, at_start)
    if not dead and not leases.any_unowned(tx):
        return []
    return leases.claim(tx, me, dead)
