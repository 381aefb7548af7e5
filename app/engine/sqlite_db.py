"""SQLite: every write transaction runs on one dedicated thread with the stdlib driver, in
one hop from the event loop (measured: an await per statement through an async driver
costs ~0.3 ms each, which caps a signal at ~125/s). Concurrent writers are grouped into one
``BEGIN IMMEDIATE`` transaction (group commit), each in its own savepoint so one failing
write rolls back alone. Reads run on a small thread pool with their own connections, which
WAL mode lets proceed beside the writer.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from .migrations import upgrade_to_head
from .prepared import Tx

TxnFn = Callable[..., Any]
MAX_BATCH = 128
READERS = 4
CHECKPOINT_SECONDS = 10.0
log = logging.getLogger("stent")


def sync_url(url: str) -> str:
    """The stdlib-driver URL for a SQLite database URL given with an async driver."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        raise ValueError(f"unsupported database {url!r}: expected a SQLite URL")
    return parsed.set(drivername="sqlite").render_as_string(hide_password=False)


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
        self._thread = threading.Thread(target=self._write_loop, name="stent-writer", daemon=True)
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
