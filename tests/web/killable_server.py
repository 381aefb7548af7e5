"""One ``stent-desk serve`` process that a test kills with SIGKILL and starts again, on the
same port and database, as a crashed server restarted by its supervisor would be."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from desk_servers import ROOT, free_port
from processes import healthy, stop, wait_until

# A restart on this busy machine replays every unfinished execution before it answers
# /healthz; waiting for it is generous, and never an assertion.
START_TIMEOUT = 120.0


class KillableServer:
    """The dashboard (and its executor) as a subprocess: ``start``, ``kill``, ``start``..."""

    def __init__(self, database_url: str, logs: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logs = logs
        self.env = {
            **os.environ,
            "STENT_DATABASE_URL": database_url,
            "STENT_HOST": "127.0.0.1",
            "STENT_PORT": str(self.port),
            "STENT_WORKFLOW_MODULES": "workflows.approval",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        """Start the server and return once it answers ``/healthz``."""
        assert self.process is None or self.process.poll() is not None, "already running"
        log_path = self.logs / f"server{self.starts}.log"
        self.starts += 1
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [str(ROOT / ".venv" / "bin" / "stent-desk"), "serve"],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(healthy(self.url), self.process, log_path, "stent-desk serve", START_TIMEOUT)

    def kill(self) -> None:
        """SIGKILL, by pid: no graceful shutdown, no response finished, no lease released."""
        assert self.process is not None and self.process.poll() is None, "not running"
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def pause(self) -> None:
        """SIGSTOP: frozen mid-request, so that the test can look at what it has stored."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT: on from where it was frozen."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        """SIGTERM (graceful), if it still runs."""
        if self.process is not None:
            stop(self.process)
