"""How the executor's transactions reach the database (SQLite or PostgreSQL).

SQLite: every write transaction runs on one dedicated thread with the stdlib driver, in
one hop from the event loop (measured: an await per statement through an async driver
costs ~0.3 ms each, which caps a signal at ~125/s). Concurrent writers are grouped
into one ``BEGIN IMMEDIATE`` transaction (group commit), each in its own savepoint so one
failing write rolls back alone. Reads run on a small thread pool with their own
connections, which WAL mode lets proceed beside the writer.

PostgreSQL: SQLAlchemy's async engine over asyncpg. Each write is its own transaction on a
pooled connection; the same store functions run on the adapted (greenlet-sync) DBAPI cursor
inside ``run_sync``, and ``SELECT ... FOR UPDATE`` on the execution row serializes the
transactions of one execution. Reads get the sync ``Connection`` inside ``run_sync``.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.util import greenlet_spawn

from .migrations import upgrade_to_head
from .prepared import AsyncpgTx, Tx

T = TypeVar("T")
TxnFn = Callable[..., Any]
MAX_BATCH = 128
READERS = 4
CHECKPOINT_SECONDS = 10.0
log = logging.getLogger("stent")


# Connections per process: this many for writes and half as many for reads, plus one
# for LISTEN. Never more: several processes share the server's max_connections (100 by
# default), and a wait for a pooled connection is short (transactions take milliseconds).
POSTGRES_POOL_SIZE = 8
MIGRATION_LOCK = 0x5E17D35C  # the advisory lock key that serializes migrations


class Database(Protocol):
    """What the executor needs of a database: one of the two classes below."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def write(self, fn: TxnFn, *args: Any) -> Any: ...
    async def read(self, fn: TxnFn, *args: Any) -> Any: ...
    async def read_point(self, fn: TxnFn, *args: Any) -> Any: ...
    async def read_tx(self, fn: TxnFn, *args: Any) -> Any: ...


def sync_url(url: str) -> str:
    """The stdlib-driver URL for a SQLite database URL given with an async driver."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        raise ValueError(f"unsupported database {url!r}: expected a SQLite URL")
    return parsed.set(drivername="sqlite").render_as_string(hide_password=False)


def async_postgres_url(url: str) -> str:
    """The asyncpg URL for a PostgreSQL URL (``postgresql://`` or ``postgresql+asyncpg://``)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"unsupported database {url!r}: expected a PostgreSQL URL")
    if parsed.get_driver_name() not in {"asyncpg", "psycopg2", "psycopg"}:
        raise ValueError(f"unsupported PostgreSQL driver in {url!r}: use postgresql+asyncpg")
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def open_database(url: str, synchronous: str = "FULL",
                  pool_size: int = POSTGRES_POOL_SIZE) -> Database:
    """The database for ``url``: SQLite (``synchronous`` applies) or PostgreSQL (with
    ``pool_size`` connections for writes)."""
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        return SqliteDatabase(url, synchronous)
    if backend == "postgresql":
        return PostgresDatabase(url, pool_size)
    raise ValueError(f"unsupported database {url!r}: use SQLite or PostgreSQL")


@dataclass
class _Job:
    fn: TxnFn
    args: tuple[Any, ...]
    future: asyncio.Future[Any]


def _configure(engine: Engine, synchronous: str, immediate: bool) -> None:
    """Pragmas on every connection; the driver's own transaction handling is switched off
    so that SQLAlchemy's BEGIN (IMMEDIATE for the writer) and savepoints are real."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        if immediate:
            # A checkpoint inside a commit stalls the writer for 60-200 ms; the
            # database checkpoints from a reader connection instead (``_checkpoints``).
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class SqliteDatabase:
    """One writer thread with group commit, plus pooled readers, on one SQLite file."""

    def __init__(self, url: str, synchronous: str = "FULL") -> None:
        if synchronous.upper() not in {"FULL", "NORMAL", "EXTRA", "OFF"}:
            raise ValueError(f"sqlite_synchronous must be FULL or NORMAL, not {synchronous!r}")
        self.url = sync_url(url)
        self._writer_engine = create_engine(self.url, pool_size=1, max_overflow=0)
        # as many pooled reader connections as reader threads: none is reopened per read
        self._reader_engine = create_engine(self.url, pool_size=READERS, max_overflow=0)
        self._readers: ThreadPoolExecutor | None = None  # started by start()
        _configure(self._writer_engine, synchronous.upper(), immediate=True)
        _configure(self._reader_engine, synchronous.upper(), immediate=False)
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._checkpointer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Bring the schema up to date, then start the writer thread."""
        self._loop = asyncio.get_running_loop()
        self._readers = ThreadPoolExecutor(READERS, thread_name_prefix="stent-reader")
        await asyncio.to_thread(self._migrate)
        self._thread = threading.Thread(target=self._write_loop, name="stent-writer",
                                        daemon=True)
        self._thread.start()
        self._checkpointer = asyncio.get_running_loop().create_task(self._checkpoints())

    async def _checkpoints(self) -> None:
        """Move the WAL's pages into the database every few seconds, off the writer's path."""
        while True:
            await asyncio.sleep(CHECKPOINT_SECONDS)
            try:
                await asyncio.to_thread(self._checkpoint)
            except Exception:
                log.warning("WAL checkpoint failed", exc_info=True)

    def _checkpoint(self) -> None:
        with self._reader_engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def _migrate(self) -> None:
        with self._writer_engine.begin() as conn:
            upgrade_to_head(conn)

    async def stop(self) -> None:
        """Finish queued writes, stop the writer thread and close every connection."""
        if self._checkpointer is not None:
            self._checkpointer.cancel()
            await asyncio.gather(self._checkpointer, return_exceptions=True)
            self._checkpointer = None
        if self._thread is not None:
            self._jobs.put(None)
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        self._writer_engine.dispose()
        self._reader_engine.dispose()
        if self._readers is not None:
            self._readers.shutdown(wait=False)
            self._readers = None

    async def write(self, fn: TxnFn, *args: Any) -> Any:
        """Run ``fn(tx, *args)`` as (part of) one write transaction; its result or error."""
        if self._thread is None or self._loop is None:
            raise RuntimeError("the database is not started")
        future: asyncio.Future[Any] = self._loop.create_future()
        self._jobs.put(_Job(fn, args, future))
        return await future

    async def read(self, fn: TxnFn, *args: Any) -> Any:
        """Run ``fn(conn, *args)`` in a read transaction on a pooled connection."""
        if self._readers is None:
            raise RuntimeError("the database is not started")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._read, fn, args)

    async def read_point(self, fn: TxnFn, *args: Any) -> Any:
        """A read of a few rows by key, run right here on the event loop's thread.

        Such a read takes ~0.1-0.3 ms; the hop to a reader thread costs more than that
        under load (queueing for the pool and for the GIL). Scans and counts use ``read``.
        """
        if self._readers is None:
            raise RuntimeError("the database is not started")
        return self._read(fn, args)

    def _read(self, fn: TxnFn, args: tuple[Any, ...]) -> Any:
        with self._reader_engine.connect() as conn, conn.begin():
            return fn(conn, *args)

    async def read_tx(self, fn: TxnFn, *args: Any) -> Any:
        """Run ``fn(tx, *args)`` (prepared statements, see ``worker_queries``) in a read
        transaction on a pooled reader connection."""
        if self._readers is None:
            raise RuntimeError("the database is not started")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._read_tx, fn, args)

    def _read_tx(self, fn: TxnFn, args: tuple[Any, ...]) -> Any:
        with self._reader_engine.connect() as conn, conn.begin():
            tx = Tx(conn.connection.dbapi_connection, conn.dialect)
            try:
                return fn(tx, *args)
            finally:
                tx.close()

    def _next_batch(self, first: _Job) -> tuple[list[_Job], bool]:
        batch, stop = [first], False
        while len(batch) < MAX_BATCH:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is None:
                stop = True
                break
            batch.append(job)
        return batch, stop

    def _write_loop(self) -> None:
        raw = self._writer_engine.raw_connection()
        tx = Tx(raw, self._writer_engine.dialect)
        try:
            stop = False
            while not stop:
                first = self._jobs.get()
                if first is None:
                    break
                batch, stop = self._next_batch(first)
                outcomes = _run_batch(tx, batch)
                assert self._loop is not None
                self._loop.call_soon_threadsafe(_deliver, batch, outcomes)
        finally:
            tx.close()
            raw.close()


def _run_batch(tx: Tx, batch: list[_Job]) -> list[tuple[bool, Any]]:
    """One transaction for the whole batch; a savepoint per job when there are several."""
    tx.raw("BEGIN IMMEDIATE")
    try:
        if len(batch) == 1:
            outcomes = [(True, batch[0].fn(tx, *batch[0].args))]
        else:
            outcomes = [_in_savepoint(tx, job) for job in batch]
        tx.raw("COMMIT")
    except Exception as exc:
        # Rolled back (a single job's error, or COMMIT failed): nothing of the batch is
        # stored, so every caller hears the error.
        tx.raw("ROLLBACK")
        return [(False, exc if len(batch) == 1 else _commit_error(exc))] * len(batch)
    return outcomes


def _in_savepoint(tx: Tx, job: _Job) -> tuple[bool, Any]:
    tx.raw("SAVEPOINT job")
    try:
        result = job.fn(tx, *job.args)
    except Exception as exc:
        tx.raw("ROLLBACK TO job")
        tx.raw("RELEASE job")
        return (False, exc)
    tx.raw("RELEASE job")
    return (True, result)


def _commit_error(exc: Exception) -> Exception:
    return RuntimeError(f"the write transaction failed and was rolled back: {exc}")


def _deliver(batch: list[_Job], outcomes: list[tuple[bool, Any]]) -> None:
    for job, (ok, value) in zip(batch, outcomes, strict=True):
        if job.future.done():
            continue
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)


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
        self._reader = create_async_engine(self.url, pool_size=max(1, self._pool_size // 2),
                                           max_overflow=0,
                                           isolation_level="REPEATABLE READ")
        self._dialect = self._reader.dialect
        dsn = make_url(self.url).set(drivername="postgresql").render_as_string(
            hide_password=False)
        self._pool = await asyncpg.create_pool(dsn, min_size=1, max_size=self._pool_size,
                                               reset=_keep_session)
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
                    [channel for channel, _ in batch], [payload for _, payload in batch])
        except (OSError, asyncpg.PostgresError):
            log.warning("%d notifications were not sent; the poll makes up for them",
                        len(batch), exc_info=True)

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
