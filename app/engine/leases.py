"""Who runs which execution when several worker processes share one database.

Each worker process has a row in ``workers`` and renews it (its heartbeat) every third of
the lease time. An execution belongs to the worker named in its ``lease_owner``; that
lease lasts while the owner's heartbeat is fresh, so one small write renews every lease a
worker holds. Unowned executions (started by a process that runs no worker) and those of
a dead worker are claimed in batches with ``SELECT ... FOR UPDATE SKIP LOCKED``, so that
the survivors split them between them without waiting on each other.

Every write of a running execution checks that its worker still owns it (``store``
raises ``LeaseLost`` otherwise): a worker that was paused past its lease cannot write
over the one that took its executions over.

Times here come from the database's own clock, so that hosts with different clocks agree
on whose lease has expired.
"""

from __future__ import annotations

import os
import socket
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Float, and_, bindparam, delete, exists, insert, or_, select, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from .prepared import Prepared, Tx
from .tables import executions as ex
from .tables import workers as wk

UNFINISHED = ("pending", "running")
# every worker listens here (PostgreSQL): an execution without an owner is waiting
UNOWNED_CHANNEL = "stent_unowned"
CLAIM_BATCH = 100


class db_now(FunctionElement[float]):  # lower case: it reads as SQL
    """The database server's clock, in float seconds since the epoch."""

    type = Float()
    inherit_cache = True


@compiles(db_now)
def _now_postgresql(_element: Any, _compiler: Any, **_kw: Any) -> str:
    return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)"


@compiles(db_now, "sqlite")
def _now_sqlite(_element: Any, _compiler: Any, **_kw: Any) -> str:
    return "((julianday('now') - 2440587.5) * 86400.0)"


_ME: Any = bindparam("b_me")
_LEASE: Any = bindparam("b_lease", type_=Float())
# spelled out rather than IN (...): a prepared statement has no expanding parameters
_UNFINISHED = or_(*(ex.c.state == state for state in UNFINISHED))
_STALE = wk.c.heartbeat_at < db_now() - _LEASE

REGISTER = Prepared(
    insert(wk).values(
        id=_ME,
        host=bindparam("b_host"),
        pid=bindparam("b_pid"),
        machine=bindparam("b_machine"),
        started_at=db_now(),
        heartbeat_at=db_now(),
    )
)
HEARTBEAT = Prepared(update(wk).where(wk.c.id == _ME).values(heartbeat_at=db_now()))
WORKERS = Prepared(select(wk.c.id, wk.c.pid, wk.c.machine, _STALE.label("stale")))
ANY_UNOWNED = Prepared(
    select(ex.c.id).where(and_(ex.c.lease_owner.is_(None), _UNFINISHED)).limit(1)
)


def _claim(owner_matches: Any) -> Prepared:
    batch = (
        select(ex.c.id)
        .where(and_(owner_matches, _UNFINISHED))
        .order_by(ex.c.created_at)
        .limit(bindparam("b_limit"))
        .with_for_update(skip_locked=True)
    )
    return Prepared(
        update(ex)
        .where(ex.c.id.in_(batch))
        .values(lease_owner=_ME, leased_at=db_now())
        .returning(ex.c.id, ex.c.workflow)
    )


CLAIM_FROM = _claim(ex.c.lease_owner == bindparam("b_owner"))
CLAIM_UNOWNED = _claim(ex.c.lease_owner.is_(None))
FORGET_DEAD = Prepared(
    delete(wk).where(
        and_(
            wk.c.id == bindparam("b_owner"),
            ~exists().where(and_(ex.c.lease_owner == wk.c.id, _UNFINISHED)),
        )
    )
)
# the changed rows show up in the other workers' polls, which claim them
RELEASE = Prepared(
    update(ex)
    .where(and_(ex.c.lease_owner == _ME, _UNFINISHED))
    .values(lease_owner=None, leased_at=None, updated_at=bindparam("b_now"))
)
UNREGISTER = Prepared(delete(wk).where(wk.c.id == _ME))


@cache
def machine() -> str:
    """This kernel's boot and pid namespace: processes with the same value see one another's
    pids, so a dead predecessor on this machine is known at once (no lease to wait out)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return f"unknown:{socket.gethostname()}:{os.getpid()}"  # never matches another
    return f"{boot}:{namespace}"


def pid_exists(pid: int) -> bool:
    """True when a process with this pid exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def register(tx: Tx, me: str) -> None:
    """Add this worker process, with a fresh heartbeat."""
    tx.execute(
        REGISTER, b_me=me, b_host=socket.gethostname()[:255], b_pid=os.getpid(), b_machine=machine()
    )


def heartbeat(tx: Tx, me: str) -> bool:
    """Renew every lease of this worker; False when it was declared dead meanwhile."""
    return tx.execute(HEARTBEAT, b_me=me) > 0


def dead_workers(tx: Tx, me: str, lease_seconds: float, at_start: bool) -> list[str]:
    """Workers whose heartbeat is older than the lease time; at start also the ones of this
    machine whose process is gone (a restart after a crash resumes at once)."""
    dead = []
    for row in tx.all(WORKERS, b_lease=lease_seconds):
        if row.id == me:
            continue
        if row.stale or (at_start and row.machine == machine() and not pid_exists(row.pid)):
            dead.append(row.id)
    return dead


def claim(tx: Tx, me: str, dead: list[str], limit: int = CLAIM_BATCH) -> list[Any]:
    """Take up to ``limit`` unowned executions or executions of ``dead`` workers;
    (id, workflow) of each. A dead worker is forgotten once it owns nothing unfinished."""
    claimed = list(tx.all(CLAIM_UNOWNED, b_me=me, b_limit=limit))
    for owner in dead:
        if len(claimed) >= limit:
            break
        claimed += tx.all(CLAIM_FROM, b_me=me, b_owner=owner, b_limit=limit - len(claimed))
    if len(claimed) < limit:
        for owner in dead:
            tx.execute(FORGET_DEAD, b_owner=owner)
    return claimed


def any_unowned(tx: Tx) -> bool:
    """True when some unfinished execution has no owner (started by a non-worker)."""
    return tx.first(ANY_UNOWNED) is not None


def release(tx: Tx, me: str, now: float) -> None:
    """A clean stop: hand every unfinished execution back (and say so), and leave."""
    if tx.execute(RELEASE, b_me=me, b_now=now):
        tx.notify_after_commit(UNOWNED_CHANNEL, "")
    tx.execute(UNREGISTER, b_me=me)
