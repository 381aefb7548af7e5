"""Worker subprocesses (``crash_worker``) for the tests that kill, stop and restart them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import crash_worker
from patience import patience

ENGINE_DIR = Path(__file__).resolve().parent
REPO_ROOT = ENGINE_DIR.parent.parent


class Workers:
    """Starts ``crash_worker`` processes on one database and journal; kills them all at the end."""

    def __init__(self, tmp_path: Path, db_url: str) -> None:
        self.tmp_path = tmp_path
        self.db_url = db_url
        self.journal = tmp_path / "journal.txt"
        self.procs: list[subprocess.Popen[bytes]] = []
        env = dict(os.environ)
        path = [str(ENGINE_DIR), str(REPO_ROOT)]
        if env.get("PYTHONPATH"):
            path.append(env["PYTHONPATH"])
        env["PYTHONPATH"] = os.pathsep.join(path)
        self.env = env

    def start(self, *dispatch: str, lease: float = 15.0) -> subprocess.Popen[bytes]:
        """A worker that resumes everything (and first dispatches, given WORKFLOW ARGS_JSON)."""
        n = len(self.procs)
        command = [
            sys.executable,
            "-m",
            "crash_worker",
            "--url",
            self.db_url,
            "--journal",
            str(self.journal),
            "--lease",
            str(lease),
        ]
        if dispatch:
            command += ["--dispatch", *dispatch]
        with open(self.out(n), "wb") as out, open(self.err(n), "wb") as err:
            proc = subprocess.Popen(
                command,
                cwd=ENGINE_DIR,
                env=self.env,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
            )
        self.procs.append(proc)
        return proc

    async def dispatch(self, workflow: str, args_json: str) -> tuple[subprocess.Popen[bytes], str]:
        """Start a worker that dispatches ``workflow``; returns it and the execution id."""
        proc = self.start(workflow, args_json)
        out = self.out(len(self.procs) - 1)
        async with asyncio.timeout(patience(15)):
            while True:
                text = out.read_text()
                if text.endswith("\n"):
                    return proc, text.strip()
                assert proc.poll() is None, f"the worker exited: {self.stderr_of(proc)}"
                await asyncio.sleep(0.02)

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL a worker of ours (it must still be running) and reap it."""
        assert proc.poll() is None, f"the worker had already exited: {self.stderr_of(proc)}"
        proc.kill()
        proc.wait(timeout=patience(10))

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=patience(10))

    def out(self, n: int) -> Path:
        return self.tmp_path / f"worker-{n}.out"

    def err(self, n: int) -> Path:
        return self.tmp_path / f"worker-{n}.err"

    def stderr_of(self, proc: subprocess.Popen[bytes]) -> str:
        return self.err(self.procs.index(proc)).read_text()

    def lines(self) -> list[str]:
        """The journal: what the activities did, in every process so far."""
        if not self.journal.exists():
            return []
        return self.journal.read_text().splitlines()

    def release(self) -> None:
        """Let the ``blocking`` activity finish."""
        crash_worker.release_file(self.journal).touch()


async def until_journal(workers: Workers, line: str, timeout: float = 10.0) -> None:
    async with asyncio.timeout(patience(timeout)):
        while line not in workers.lines():
            await asyncio.sleep(0.01)
