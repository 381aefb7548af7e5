"""Cluster benchmark (``make bench``): signals/s and send→completion with 1, 2 and 4 worker
processes on PostgreSQL, beside one process on SQLite. Prints ONE markdown table.

    .venv/bin/python tests/perf/bench_cluster.py [--processes 1,2,4] [--per-process 1000]
                                                  [--senders 16] [--url postgresql://...]

Each run uses a fresh database (a new PostgreSQL database on the server of ``--url`` or
TEST_DATABASE_URL, dropped afterwards; a temporary SQLite file). Every process is a real
worker: it starts ``--per-process`` executions (so it owns them) that wait for one signal.
Then every process sends, with ``--senders`` concurrent tasks, one signal to each of an
equal share of ALL executions, shuffled: most signals land on an execution another process
owns, as behind a load balancer, and wake it through LISTEN/NOTIFY. Latency is from just
before ``send_signal`` to the execution's stored ``finished_at`` (one host, one clock);
throughput is signals over the span from the first send to the last finish.

Then, at low load, two processes each send one signal every 20 ms: the send→completion
latency of the signals that woke the other process measures the LISTEN/NOTIFY path itself.
``BENCH_LOCAL=1`` makes every process signal only its own executions; ``BENCH_POLL``
sets the workers' poll interval (seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for _path in (str(ROOT), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import asyncpg  # noqa: E402
import bench_workflows  # noqa: E402
import psutil  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from app.engine import Stent  # noqa: E402
from app.engine.tables import executions, steps  # noqa: E402

DEFAULT_URL = "postgresql://127.0.0.1:5432/test"
PACE_MS = 20
PACED_PER_PROCESS = 200
LOCAL = os.environ.get("BENCH_LOCAL") == "1"  # each process signals only its own executions
TIMEOUT = 300.0


def log(message: str) -> None:
    print(f"[bench_cluster {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- child
async def child(url: str, count: int, senders: int, out: Path, pace_ms: float = 0.0) -> None:
    """One worker process: start ``count`` waiting executions, then send what it is told."""
    async with Stent(url, poll_interval=float(os.environ.get("BENCH_POLL", "0.5"))) as executor:
        ids = list(
            await asyncio.gather(
                *(executor.dispatch(bench_workflows.wait_go) for _ in range(count))
            )
        )
        while await executor.db.read(_open_waits, ids) < count:
            await asyncio.sleep(0.05)
        out.write_text(json.dumps(ids))
        print("ready", flush=True)
        share = Path((await asyncio.to_thread(sys.stdin.readline)).split()[1])
        targets = iter(json.loads(share.read_text()))
        sent_at: dict[str, float] = {}

        pace = pace_ms / 1000

        async def sender() -> None:
            for eid in targets:
                sent_at[eid] = time.time()
                await executor.send_signal(eid, "go", {"eid": eid})
                if pace:
                    await asyncio.sleep(pace)

        await asyncio.gather(*(sender() for _ in range(senders)))
        out.write_text(json.dumps(sent_at))
        print("sent", flush=True)
        await asyncio.to_thread(sys.stdin.readline)  # until the parent has its figures


def _open_waits(conn: Any, ids: list[str]) -> int:
    return int(
        conn.execute(
            select(func.count())
            .select_from(steps)
            .where(steps.c.execution_id.in_(ids), steps.c.kind == "wait", steps.c.status == "open")
        ).scalar_one()
    )


# ---------------------------------------------------------------------------- parent
def start_child(
    url: str, count: int, senders: int, out: Path, pace_ms: float
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--child",
            "--url",
            url,
            "--per-process",
            str(count),
            "--senders",
            str(senders),
            "--pace-ms",
            str(pace_ms),
            "--out",
            str(out),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def expect(proc: subprocess.Popen[str], word: str) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.split()[:1] != [word]:
        raise RuntimeError(f"a worker said {line!r} instead of {word!r} (exit {proc.poll()})")


async def finished_at(url: str, total: int) -> dict[str, float]:
    """Every execution's finish time, once all ``total`` have finished."""
    async with Stent(url, run_worker=False) as reader:
        deadline = time.monotonic() + TIMEOUT
        while True:
            rows = await reader.db.read(
                lambda conn: dict(
                    conn.execute(
                        select(executions.c.id, executions.c.finished_at).where(
                            executions.c.state == "completed"
                        )
                    ).all()
                )
            )
            if len(rows) >= total:
                return rows  # type: ignore[no-any-return]
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(rows)} of {total} finished after {TIMEOUT} s")
            await asyncio.sleep(0.1)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far."""
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def postgres_pids() -> list[int]:
    """The PostgreSQL server's processes (backends included), when it runs here."""
    return [p.pid for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"]


def run(
    url: str, processes: int, count: int, senders: int, work: Path, pace_ms: float = 0.0
) -> dict[str, float]:
    """One measurement: ``processes`` workers on ``url``."""
    outs = [work / f"worker-{n}.json" for n in range(processes)]
    procs = [start_child(url, count, senders, out, pace_ms) for out in outs]
    try:
        for proc in procs:
            expect(proc, "ready")
        owner = {eid: n for n, out in enumerate(outs) for eid in json.loads(out.read_text())}
        ids = list(owner)
        random.Random(processes).shuffle(ids)
        crossing: set[str] = set()
        app_pids = [proc.pid for proc in procs]
        server_pids = postgres_pids()
        app_cpu, server_cpu = cpu_seconds(app_pids), cpu_seconds(server_pids)
        for n, proc in enumerate(procs):
            share = work / f"share-{n}.json"
            own = json.loads(outs[n].read_text())
            targets = own if LOCAL else ids[n::processes]
            crossing |= {eid for eid in targets if owner[eid] != n}
            share.write_text(json.dumps(targets))
            assert proc.stdin is not None
            proc.stdin.write(f"go {share}\n")
            proc.stdin.flush()
        for proc in procs:
            expect(proc, "sent")
        finishes = asyncio.run(finished_at(url, len(ids)))
        app_cpu = cpu_seconds(app_pids) - app_cpu
        server_cpu = cpu_seconds(server_pids) - server_cpu if "postgresql" in url else 0.0
        sent: dict[str, float] = {}
        for out in outs:
            sent |= json.loads(out.read_text())
    finally:
        for proc in procs:
            if proc.poll() is None and proc.stdin is not None:
                proc.stdin.close()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    latencies = sorted((finishes[eid] - sent[eid]) * 1000 for eid in ids)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    across = [(finishes[eid] - sent[eid]) * 1000 for eid in crossing] or [0.0, 0.0]
    cross_cuts = statistics.quantiles(across, n=100, method="inclusive")
    span = max(finishes.values()) - min(sent.values())
    return {
        "signals": len(ids),
        "rate": len(ids) / span,
        "p50": cuts[49],
        "p99": cuts[98],
        "crossing": len(crossing),
        "cross_p50": cross_cuts[49],
        "cross_p99": cross_cuts[98],
        "app_cpu_ms": app_cpu / len(ids) * 1000,
        "server_cpu_ms": server_cpu / len(ids) * 1000,
    }


async def _admin(url: str, statement: str) -> None:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def postgres_run(
    admin_url: str, processes: int, count: int, senders: int, work: Path, pace_ms: float = 0.0
) -> dict[str, float]:
    """A run on a database of its own, created and dropped here."""
    admin = make_url(admin_url).set(drivername="postgresql")
    name = f"stent_bench_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(admin.render_as_string(hide_password=False), f'CREATE DATABASE "{name}"'))
    url = admin.set(drivername="postgresql+asyncpg", database=name)
    try:
        # migrated once before the workers start, as a deployment does
        asyncio.run(_migrate(url.render_as_string(hide_password=False)))
        return run(
            url.render_as_string(hide_password=False), processes, count, senders, work, pace_ms
        )
    finally:
        asyncio.run(
            _admin(
                admin.render_as_string(hide_password=False),
                f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
            )
        )


async def _migrate(url: str) -> None:
    async with Stent(url, run_worker=False):
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--processes", default="1,2,4")
    parser.add_argument("--per-process", type=int, default=1000)
    parser.add_argument("--senders", type=int, default=16, help="concurrent sends per process")
    parser.add_argument("--url", default=os.environ.get("TEST_DATABASE_URL") or DEFAULT_URL)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--pace-ms", type=float, default=0.0, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.child:
        asyncio.run(
            child(options.url, options.per_process, options.senders, options.out, options.pace_ms)
        )
        return 0

    counts = [int(n) for n in options.processes.split(",")]
    rows: list[tuple[str, int, dict[str, float]]] = []
    with tempfile.TemporaryDirectory(prefix="stent-bench-cluster-") as tmp:
        work = Path(tmp)
        log("SQLite, 1 process")
        rows.append(
            (
                "SQLite",
                1,
                run(
                    f"sqlite+aiosqlite:///{work}/stent.db",
                    1,
                    options.per_process,
                    options.senders,
                    work,
                ),
            )
        )
        for processes in counts:
            log(f"PostgreSQL, {processes} process(es)")
            rows.append(
                (
                    "PostgreSQL",
                    processes,
                    postgres_run(
                        options.url, processes, options.per_process, options.senders, work
                    ),
                )
            )
    log("PostgreSQL, 2 processes, paced")
    with tempfile.TemporaryDirectory(prefix="stent-bench-cluster-") as tmp:
        paced = postgres_run(options.url, 2, PACED_PER_PROCESS, 1, Path(tmp), PACE_MS)
    one = next((m["rate"] for db, n, m in rows if db == "PostgreSQL" and n == 1), None)
    cores = os.cpu_count()
    print(
        f"\n{cores} cores; {options.per_process} executions per process, each process "
        f"sending to a shuffled share of all of them with {options.senders} concurrent "
        f"senders.\n"
    )
    print(
        "| database | processes | signals | signals/s | vs 1 process | "
        "send→completion p50 | p99 | CPU per signal: app + database |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for database, processes, m in rows:
        ratio = f"{m['rate'] / one:.2f}x" if one and database == "PostgreSQL" else "—"
        print(
            f"| {database} | {processes} | {m['signals']:,.0f} | {m['rate']:,.0f} | {ratio} "
            f"| {m['p50']:.1f} ms | {m['p99']:.1f} ms "
            f"| {m['app_cpu_ms']:.2f} + {m['server_cpu_ms']:.2f} ms |"
        )
    print(
        f"\nAt low load (2 PostgreSQL processes, each sending one signal every {PACE_MS} ms "
        f"to a shuffled share of all executions): send→completion p50 {paced['p50']:.1f} ms,"
        f" p99 {paced['p99']:.1f} ms over {paced['signals']:,.0f} signals; the "
        f"{paced['crossing']:,.0f} that woke the other process (LISTEN/NOTIFY): p50 "
        f"{paced['cross_p50']:.1f} ms, p99 {paced['cross_p99']:.1f} ms."
    )
    four = next((m["rate"] for db, n, m in rows if db == "PostgreSQL" and n == 4), None)
    if one and four:
        verdict = "met" if four >= 2.5 * one else "NOT met"
        print(f"\nTarget 4 processes >= 2.5x one: {four / one:.2f}x ({verdict}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
