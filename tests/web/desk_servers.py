"""Real ``stent-desk serve`` processes for tests of several replicas on one database."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from processes import healthy, stop, wait_until

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_servers(database_url: str, count: int, logs: Path, **env: str) -> Iterator[list[str]]:
    """``count`` servers on ``database_url`` (with extra ``STENT_*`` settings); their base
    URLs once every one answers ``/healthz``; stopped with SIGTERM afterwards."""
    processes: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for index in range(count):
            port = free_port()
            settings = {
                **os.environ,
                "STENT_DATABASE_URL": database_url,
                "STENT_HOST": "127.0.0.1",
                "STENT_PORT": str(port),
                "STENT_WORKFLOW_MODULES": "workflows.approval",
                **env,
            }
            with (logs / f"server{index}.log").open("wb") as log:
                processes.append(
                    subprocess.Popen(
                        [str(ROOT / ".venv" / "bin" / "stent-desk"), "serve"],
                        cwd=ROOT,
                        env=settings,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
            urls.append(f"http://127.0.0.1:{port}")
        for index, (url, process) in enumerate(zip(urls, processes, strict=True)):
            wait_until(healthy(url), process, logs / f"server{index}.log", "stent-desk serve")
        yield urls
    finally:
        for process in processes:
            stop(process)
