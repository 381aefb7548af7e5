"""Starting and stopping the servers the tests run as subprocesses (the app, the test
OpenID Connect provider): shared by ``tests/`` and ``e2e/``."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from patience import patience


def wait_until(
    ready: Callable[[], bool],
    process: subprocess.Popen[bytes],
    log: Path,
    what: str,
    timeout: float = 30.0,
) -> None:
    """Return once ``ready()`` (an HTTP probe; ``OSError`` counts as not yet); raise with
    the process's log when it exits or ``timeout`` passes first."""
    deadline = time.monotonic() + patience(timeout)
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if ready():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not start; its log:\n{log.read_text()}")


def healthy(url: str) -> Callable[[], bool]:
    """A probe: ``GET <url>/healthz`` answers 200."""

    def probe() -> bool:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
            return bool(response.status == 200)

    return probe


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (servers shut down gracefully), then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=patience(10))
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=patience(10))
