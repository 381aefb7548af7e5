"""Core statements compiled once per dialect and run straight on the DBAPI cursor.

The write path runs a dozen statements per signal. Through SQLAlchemy's execution layer
each costs ~45 µs of Python; on the cursor, with SQL and parameter order compiled once by
SQLAlchemy for the connection's dialect, ~5 µs. The SQL is still written (and kept in
agreement with the tables and migrations) as SQLAlchemy Core.
"""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import ClauseElement
from sqlalchemy.util import await_only


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    defaults: dict[str, Any]
    row: Any  # a namedtuple class for SELECTs, None otherwise


class Prepared:
    """A statement with named ``b_*`` parameters; compiled lazily per dialect."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def for_dialect(self, dialect: Dialect) -> _Compiled:
        """The SQL text, positional parameter order and row type for ``dialect``."""
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            comp: Any = self.statement.compile(dialect=dialect)
            columns = getattr(self.statement, "selected_columns", None)
            fields = None if columns is None else [c.key for c in columns]
            returning = getattr(self.statement, "returning_column_descriptions", None)
            if returning:  # UPDATE ... RETURNING: rows like a SELECT's
                fields = [d["name"] for d in returning]
            row = None if fields is None else namedtuple("Row", fields)
            compiled = _Compiled(str(comp), tuple(comp.positiontup or ()), dict(comp.params), row)
            self._compiled[dialect.name] = compiled
        return compiled


class Tx:
    """One write transaction on a DBAPI connection (see ``database``)."""

    def __init__(self, dbapi_connection: Any, dialect: Dialect) -> None:
        self._cursor = dbapi_connection.cursor()
        self._dialect = dialect

    def _run(self, prepared: Prepared, params: dict[str, Any]) -> _Compiled:
        compiled = prepared.for_dialect(self._dialect)
        values = compiled.defaults | params if compiled.defaults else params
        self._cursor.execute(compiled.sql, tuple(values[name] for name in compiled.names))
        return compiled

    def execute(self, prepared: Prepared, **params: Any) -> int:
        """Run a statement; the number of rows it changed."""
        self._run(prepared, params)
        return int(self._cursor.rowcount)

    def first(self, prepared: Prepared, **params: Any) -> Any:
        """The first row of a SELECT (attribute access by column), or None."""
        compiled = self._run(prepared, params)
        found = self._cursor.fetchone()
        return None if found is None else compiled.row(*found)

    def all(self, prepared: Prepared, **params: Any) -> list[Any]:
        """Every row of a SELECT."""
        compiled = self._run(prepared, params)
        return [compiled.row(*found) for found in self._cursor.fetchall()]

    def notify_after_commit(self, channel: str, payload: str) -> None:
        """A PostgreSQL notification to send once committed; SQLite has none (its
        workers poll), so nothing here."""

    def raw(self, sql: str) -> None:
        """Transaction control (BEGIN, SAVEPOINT, ...), spelled the same on both databases."""
        self._cursor.execute(sql)

    def close(self) -> None:
        """Release the cursor."""
        self._cursor.close()


class AsyncpgTx(Tx):
    """A ``Tx`` straight on an asyncpg connection, for store functions run in a greenlet
    (``sqlalchemy.util.greenlet_spawn``): each statement is one ``await_only``.

    Through SQLAlchemy's async engine a one-statement transaction costs ~380 µs of CPU
    here (connection wrappers, pool events, adapted cursor); this way, ~120 µs.
    """

    def __init__(self, connection: Any, dialect: Dialect) -> None:
        self._conn = connection
        self._dialect = dialect
        self.notifications: list[tuple[str, str]] = []

    def notify_after_commit(self, channel: str, payload: str) -> None:
        """Kept for ``PostgresDatabase`` to send after the commit."""
        self.notifications.append((channel, payload))

    def _args(self, prepared: Prepared, params: dict[str, Any]) -> tuple[_Compiled, list[Any]]:
        compiled = prepared.for_dialect(self._dialect)
        values = compiled.defaults | params if compiled.defaults else params
        return compiled, [values[name] for name in compiled.names]

    def execute(self, prepared: Prepared, **params: Any) -> int:
        compiled, args = self._args(prepared, params)
        if compiled.row is not None:  # RETURNING or SELECT: the rows are the count
            return len(await_only(self._conn.fetch(compiled.sql, *args)))
        status = await_only(self._conn.execute(compiled.sql, *args))
        return int(status.rsplit(" ", 1)[-1]) if status[-1:].isdigit() else 0

    def first(self, prepared: Prepared, **params: Any) -> Any:
        compiled, args = self._args(prepared, params)
        found = await_only(self._conn.fetchrow(compiled.sql, *args))
        return None if found is None else compiled.row(*found)

    def all(self, prepared: Prepared, **params: Any) -> list[Any]:
        compiled, args = self._args(prepared, params)
        return [compiled.row(*found) for found in await_only(self._conn.fetch(compiled.sql, *args))]

    def raw(self, sql: str) -> None:
        await_only(self._conn.execute(sql))

    def close(self) -> None:
        """Nothing to release: the connection goes back to its pool."""
