"""PostgreSQL ``LISTEN``: wake-ups from other processes within milliseconds.

Once a transaction that changes an execution another worker owns has committed, its
process sends ``pg_notify`` to the owner's channel (see ``store._notify`` and
``PostgresDatabase._notify_loop``), carrying the completion when it fits. The listener
holds one connection of its own (asyncpg: SQLAlchemy's pool has no notification API) and
reconnects when it is lost.
Notifications sent while it is away are lost; the worker's poll is the safety net, and a
reconnect asks for one at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

log = logging.getLogger("stent")
RECONNECT_SECONDS = (0.1, 0.5, 1.0, 2.0, 5.0)


def libpq_dsn(url: str) -> str:
    """A ``postgresql+asyncpg://`` URL as the plain DSN asyncpg takes."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Listener:
    """Calls ``handlers[channel](payload)`` for every notification on those channels."""

    def __init__(
        self,
        url: str,
        handlers: Mapping[str, Callable[[str], None]],
        *,
        name: str,
        on_reconnect: Callable[[], None],
    ) -> None:
        self.dsn = libpq_dsn(url)
        self.handlers = dict(handlers)
        self.name = name  # application_name: tests and operators find the connection by it
        self.on_reconnect = on_reconnect
        self.connected = asyncio.Event()
        self._ever_connected = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect and listen (returns once listening, or after the first failure)."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="stent-listen")
        ready = asyncio.ensure_future(self.connected.wait())
        await asyncio.wait({ready, self._task}, timeout=10, return_when="FIRST_COMPLETED")
        ready.cancel()

    async def stop(self) -> None:
        """Stop listening and close the connection."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        failures = 0
        while True:
            lost = asyncio.Event()
            try:
                conn = await asyncpg.connect(
                    self.dsn, server_settings={"application_name": self.name}
                )
            except Exception as exc:  # refused, unreachable, timed out: try again
                delay = RECONNECT_SECONDS[min(failures, len(RECONNECT_SECONDS) - 1)]
                failures += 1
                log.warning(
                    "LISTEN connection failed (%s); retrying in %s s", type(exc).__name__, delay
                )
                await asyncio.sleep(delay)
                continue
            try:
                conn.add_termination_listener(_setter(lost))
                for channel in self.handlers:
                    await conn.add_listener(channel, self._dispatch)
                if self._ever_connected:
                    self.on_reconnect()  # what was sent while away is only seen by a poll
                failures = 0
                self._ever_connected = True
                self.connected.set()
                await lost.wait()
                log.warning("LISTEN connection lost; reconnecting")
            except Exception as exc:  # the connection broke: a new one
                log.warning("LISTEN failed (%s); reconnecting", type(exc).__name__)
            finally:
                self.connected.clear()
                await _close(conn)
            await asyncio.sleep(RECONNECT_SECONDS[0])

    def _dispatch(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        handler = self.handlers.get(channel)
        if handler is not None:
            handler(payload)


def _setter(event: asyncio.Event) -> Callable[[Any], None]:
    return lambda _conn: event.set()


async def _close(conn: Any) -> None:
    try:
        await asyncio.wait_for(conn.close(), timeout=2)
    except Exception:
        conn.terminate()
