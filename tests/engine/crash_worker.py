"""A worker process for the crash-recovery tests (``test_kill_recovery.py``).

Run it as ``python -m crash_worker --url DATABASE_URL --journal PATH [--dispatch WORKFLOW
ARGS_JSON]`` with ``tests/engine`` and the repository root on ``PYTHONPATH``; the URL is a
SQLite or a PostgreSQL one. With ``--dispatch`` it starts ``WORKFLOW`` (a name defined here,
or a registered ``module.qualname``) with the JSON list of arguments, prints the execution id
(flushed) and keeps running as a worker; without it, it only resumes what the database
holds. Either way it runs until killed.

Activities append ``start <name> <arg>`` and ``end <name> <arg>`` to the journal (flushed
and fsynced), so the test can count side effects across processes. ``blocking`` waits,
between its two lines, until the file ``<journal>.release`` exists.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path
from typing import Any

from app.engine import Stent

JOURNAL: Path | None = None  # set by main(); activities only run in the worker process


def journal(event: str, name: str, arg: Any) -> None:
    """Append one line to the journal and make it durable before going on."""
    assert JOURNAL is not None, "the journal is set by main()"
    with open(JOURNAL, "a", encoding="utf-8") as out:
        out.write(f"{event} {name} {arg}\n")
        out.flush()
        os.fsync(out.fileno())


def release_file(path: Path) -> Path:
    """The file whose existence lets ``blocking`` finish."""
    return path.with_name(path.name + ".release")


# ---------------------------------------------------------------------- activities
@Stent.durable()
async def step(name: str, arg: str) -> str:
    journal("start", name, arg)
    journal("end", name, arg)
    return f"{name}:{arg}"


@Stent.durable()
async def blocking(name: str, arg: str) -> str:
    journal("start", name, arg)
    assert JOURNAL is not None
    while not release_file(JOURNAL).exists():
        await asyncio.sleep(0.02)
    journal("end", name, arg)
    return f"{name}:{arg}"


# ---------------------------------------------------------------------- workflows
@Stent.durable()
async def approve_between(arg: str) -> dict[str, Any]:
    """Activity A, then a wait for "approval", then activity B."""
    first = await step("A", arg)
    approval = await Stent.wait_for_signal("approval")
    second = await step("B", arg)
    return {"a": first, "approval": approval, "b": second}


@Stent.durable()
async def then_block(arg: str) -> list[str]:
    """Activity A, then activity B that blocks until the release file exists."""
    return [await step("A", arg), await blocking("B", arg)]


@Stent.durable()
async def nap(seconds: float) -> str:
    """A durable timer, then an activity."""
    await Stent.sleep(seconds)
    return await step("after-sleep", str(seconds))


@Stent.durable()
async def two_signals(n: int) -> list[Any]:
    """The cluster test's workflow: two signals, then an activity."""
    first = await Stent.wait_for_signal("first")
    second = await Stent.wait_for_signal("second")
    await step("done", str(n))
    return [first, second]


@Stent.durable()
async def webhook(name: str, count: int) -> list[Any]:
    """The webhook-style loop: wait on one name ``count`` times."""
    return [await Stent.wait_for_signal(name) for _ in range(count)]


# ---------------------------------------------------------------------- process
async def serve(url: str, dispatch: tuple[str, str] | None, lease: float) -> None:
    async with Stent(url, poll_interval=0.05, lease_seconds=lease) as executor:
        if dispatch is not None:
            workflow, arguments = dispatch
            name = workflow if "." in workflow else f"{__name__}.{workflow}"
            eid = await executor.start_execution(name, args=json.loads(arguments))
            print(eid, flush=True)
        await asyncio.Event().wait()  # until killed


def main(argv: list[str] | None = None) -> None:
    global JOURNAL
    parser = argparse.ArgumentParser(prog="crash_worker")
    parser.add_argument("--url", required=True, help="the database URL (SQLite or PostgreSQL)")
    parser.add_argument("--journal", required=True, type=Path)
    parser.add_argument("--dispatch", nargs=2, metavar=("WORKFLOW", "ARGS_JSON"))
    parser.add_argument("--lease", type=float, default=15.0, help="lease seconds")
    options = parser.parse_args(argv)
    JOURNAL = options.journal
    asyncio.run(
        serve(options.url, tuple(options.dispatch) if options.dispatch else None, options.lease)
    )


if __name__ == "__main__":
    # Under ``python -m`` this file runs as ``__main__``; the workflows must be registered as
    # ``crash_worker.*`` (the name the test process imports them under), so hand over to the
    # module imported under its own name.
    import crash_worker

    crash_worker.main()
