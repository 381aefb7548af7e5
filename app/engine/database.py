"""How the executor's transactions reach the database: the ``Database`` interface and the
choice between SQLite (``sqlite_db``: one writer thread with group commit) and PostgreSQL
(``postgres_db``: pooled asyncpg connections, a transaction per write).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy.engine import make_url

from .postgres_db import POSTGRES_POOL_SIZE, PostgresDatabase, async_postgres_url
from .sqlite_db import SqliteDatabase, sync_url

TxnFn = Callable[..., Any]

__all__ = [
    "POSTGRES_POOL_SIZE",
    "Database",
    "PostgresDatabase",
    "SqliteDatabase",
    "async_postgres_url",
    "open_database",
    "sync_url",
]


class Database(Protocol):
    """What the executor needs of a database: ``SqliteDatabase`` or ``PostgresDatabase``."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def write(self, fn: TxnFn, *args: Any) -> Any: ...
    async def read(self, fn: TxnFn, *args: Any) -> Any: ...
    async def read_point(self, fn: TxnFn, *args: Any) -> Any: ...
    async def read_tx(self, fn: TxnFn, *args: Any) -> Any: ...


def open_database(
    url: str, synchronous: str = "FULL", pool_size: int = POSTGRES_POOL_SIZE
) -> Database:
    """The database for ``url``: SQLite (``synchronous`` applies) or PostgreSQL (with
    ``pool_size`` connections for writes)."""
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        return SqliteDatabase(url, synchronous)
    if backend == "postgresql":
        return PostgresDatabase(url, pool_size)
    raise ValueError(f"unsupported database {url!r}: use SQLite or PostgreSQL")
