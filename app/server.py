"""Serving the dashboard with uvicorn, shutting down cleanly on SIGINT and SIGTERM."""

from __future__ import annotations

import signal
from collections.abc import Generator
from contextlib import contextmanager
from types import FrameType

import uvicorn
from starlette.applications import Starlette


class _Server(uvicorn.Server):
    """uvicorn re-raises a captured SIGTERM after its graceful shutdown, so the process
    dies of the signal; a completed graceful shutdown here exits 0 instead."""

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        self.should_exit = True


async def serve(app: Starlette, host: str, port: int, trusted_proxies: str = "") -> None:
    """Serve ``app`` until SIGINT or SIGTERM; forwarding headers are believed only from
    ``trusted_proxies`` (comma-separated addresses, ``*``, or empty for none)."""
    proxies = trusted_proxies.strip()
    server = _Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            proxy_headers=bool(proxies),
            forwarded_allow_ips=proxies or None,
        )
    )
    await server.serve()
