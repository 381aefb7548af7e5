"""PostgreSQL: writes on a raw asyncpg pool, each its own transaction, concurrent across
executions; ``SELECT ... FOR UPDATE`` on the execution row serializes the transactions of
one execution. Reads through SQLAlchemy's async engine. Notifications for other processes
are sent after the commits (see ``PostgresDatabase._notify_loop``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.util import greenlet_spawn

from .migrations import upgrade_to_head
from .prepared import AsyncpgTx

TxnFn = Callable[..., Any]
log = logging.getLogger("stent")
# Connections per process: this many for writes and half as many for reads, plus one
# for LISTEN. Never more: several processes share the server's max_connections (100 by
# default), and a wait for a pooled connection is short (transactions take milliseconds).
POSTGRES_POOL_SIZE = 8
MIGRATION_LOCK = 0x5E17D35C  # the advisory lock key that serializes migrations


def async_postgres_url(url: str) -> str:
    """The asyncpg URL for a PostgreSQL URL (``postgresql://`` or ``postgresql+asyncpg://``)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"unsupported database {url!r}: expected a PostgreSQL URL")
    if parsed.get_driver_name() not in {"asyncpg", "psycopg2", "psycopg"}:
        raise ValueError(f"unsupported PostgreSQL driver in {url!r}: use postgresql+asyncpg")
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


class PostgresDatabase:
    """Pooled asyncpg connections; one transaction per write, concurrent across executions.

    Writes run in READ COMMITTED on an asyncpg pool of their own: each starts by locking
    its execution's row (``FOR UPDATE``), and every later statement then sees what the
    previous holder committed. The store functions run in a greenlet on ``AsyncpgTx``
    (SQLAlchemy's async engine costs three times the CPU per transaction). Reads go through
    SQLAlchemy (the queries are ORM-free Core, built per call) in REPEATABLE READ, so a
    read of several statements sees one snapshot, as a SQLite read transaction does.
    """

    def __init__(self, url: str, pool_size: int = POSTGRES_POOL_SIZE) -> None:
        self.url = async_postgres_url(url)
        self._pool_size = pool_size
        self._pool: Any = None  # asyncpg.Pool, opened by start()
        self._reader: AsyncEngine | None = None
        self._dialect: Any = None
        self._inflight: set[asyncio.Future[Any]] = set()
        self._outbox: list[tuple[str, str]] = []  # notifications to send (``_notifier``)
        self._outbox_filled = asyncio.Event()
        self._notifier: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Bring the schema up to date (one transaction) and open the pools."""
        migrator = create_async_engine(self.url, poolclass=NullPool)
        try:
            async with migrator.begin() as conn:
                # replicas starting together migrate one after another; the later ones
                # find the schema already at head
                await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
                await conn.run_sync(upgrade_to_head)
        finally:
            await migrator.dispose()
        self._reader = create_async_engine(
            self.url,
            pool_size=max(1, self._pool_size // 2),
            max_overflow=0,
            isolation_level="REPEATABLE READ",
        )
        self._dialect = self._reader.dialect
        dsn = make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._pool = await asyncpg.create_pool(
            dsn, min_size=1, max_size=self._pool_size, reset=_keep_session
        )
        self._notifier = asyncio.get_running_loop().create_task(self._notify_loop())

    async def stop(self) -> None:
        """Let the transactions in flight end, then close every pooled connection."""
        await asyncio.gather(*self._inflight, return_exceptions=True)
        if self._notifier is not None:
            self._notifier.cancel()
            await asyncio.gather(self._notifier, return_exceptions=True)
            self._notifier = None
            await self._send_notifications()
        if self._pool is not None:
            await self._pool.close()
        if self._reader is not None:
            await self._reader.dispose()
        self._pool = self._reader = None

    async def write(self, fn: TxnFn, *args: Any) -> Any:
        """Run ``fn(tx, *args)`` as one write transaction; its result or error."""
        if self._pool is None:
            raise RuntimeError("the database is not started")
        return await self._finish(self._write(fn, args))

    async def _write(self, fn: TxnFn, args: tuple[Any, ...]) -> Any:
        async with self._pool.acquire() as conn:
            tx = AsyncpgTx(conn, self._dialect)
            async with conn.transaction():
                result = await greenlet_spawn(fn, tx, *args)
        if tx.notifications:
            self._outbox += tx.notifications
            self._outbox_filled.set()
        return result

    async def _notify_loop(self) -> None:
        """Send the committed transactions' notifications, as many as have gathered in one
        statement: each notifying transaction wakes every listening server process, so a
        batch wakes them once."""
        while True:
            await self._outbox_filled.wait()
            self._outbox_filled.clear()
            await self._send_notifications()

    async def _send_notifications(self) -> None:
        batch, self._outbox = self._outbox, []
        if not batch or self._pool is None:
            return
        try:
            async with self._pool.acquire() as conn:
                await conn.execute(
                    "SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS n(c, p)",
                    [channel for channel, _ in batch],
                    [payload for _, payload in batch],
                )
        except Exception:  # whatever it is, the loop goes on: the next batch may pass
            log.warning(
                "%d notifications were not sent; the poll makes up for them",
                len(batch),
                exc_info=True,
            )

    @staticmethod
    async def _read(engine: AsyncEngine, fn: TxnFn, args: tuple[Any, ...]) -> Any:
        async with engine.connect() as conn:
            return await conn.run_sync(fn, *args)

    async def _finish(self, work: Coroutine[Any, Any, Any]) -> Any:
        """Run ``work`` to its end even if the caller is cancelled (as SQLite's writer
        thread does): a transaction cut off mid-way would keep its connection, and the
        execution's row lock, until the process exits. ``stop`` waits for these."""
        task = asyncio.ensure_future(work)
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        return await asyncio.shield(task)

    async def read(self, fn: TxnFn, *args: Any) -> Any:
        """Run ``fn(conn, *args)`` in a read transaction on a pooled connection."""
        if self._reader is None:
            raise RuntimeError("the database is not started")
        return await self._finish(self._read(self._reader, fn, args))

    async def read_point(self, fn: TxnFn, *args: Any) -> Any:
        """A read of a few rows by key; the same as ``read`` on PostgreSQL."""
        return await self.read(fn, *args)

    async def read_tx(self, fn: TxnFn, *args: Any) -> Any:
        """Run ``fn(tx, *args)`` (prepared statements, see ``worker_queries``) on a pooled
        write connection, outside a transaction: each statement sees what was committed."""
        if self._pool is None:
            raise RuntimeError("the database is not started")
        return await self._finish(self._read_tx(fn, args))

    async def _read_tx(self, fn: TxnFn, args: tuple[Any, ...]) -> Any:
        async with self._pool.acquire() as conn:
            return await greenlet_spawn(fn, AsyncpgTx(conn, self._dialect), *args)


async def _keep_session(_connection: Any) -> None:
    """Pool release without asyncpg's reset query (a round trip per transaction): the
    write connections keep no session state (no LISTEN, no session locks or settings)."""
