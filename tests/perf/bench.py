"""Engine benchmark (``make bench``): one markdown table of signal throughput, latency and memory.

Every scenario runs in a fresh subprocess on a fresh temporary SQLite file, so peak RSS
(``ru_maxrss`` of the child) belongs to that scenario alone. Not a pytest module.

    .venv/bin/python tests/perf/bench.py [--only a,b] [--synchronous NORMAL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import closing
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for _path in (str(ROOT), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import bench_workflows  # noqa: E402

from app.engine import Stent  # noqa: E402

Metrics = dict[str, float]
Scenario = Callable[[Stent, list[str]], Awaitable[Metrics]]
SETUP_TIMEOUT = 120.0
WAIT_TIMEOUT = 120.0


# ---------------------------------------------------------------------------- helpers
def peak_rss_mb() -> float:
    """Peak resident set size of this process (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def open_wait_count(db: Path) -> int:
    """Open waits in the database, read on a connection of our own (the engine's untouched)."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM steps WHERE kind = 'wait' AND status = 'open'"
        ).fetchone()
    return int(row[0])


async def until_open_waits(db: Path, n: int) -> None:
    deadline = time.perf_counter() + SETUP_TIMEOUT
    while open_wait_count(db) < n:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"fewer than {n} open waits after {SETUP_TIMEOUT} s")
        await asyncio.sleep(0.005)


async def start_waiting(ex: Stent, db: Path, n: int) -> tuple[list[str], Metrics]:
    """Dispatch ``n`` executions at once; returns when every one has an open wait."""
    t0 = time.perf_counter()
    ids = list(await asyncio.gather(*(ex.dispatch(bench_workflows.wait_go) for _ in range(n))))
    dispatched = time.perf_counter() - t0
    await until_open_waits(db, n)
    return ids, {"dispatch_s": dispatched, "waiting_s": time.perf_counter() - t0}


async def send(ex: Stent, eid: str) -> None:
    await ex.send_signal(eid, "go", {"eid": eid})


async def complete(ex: Stent, eid: str) -> None:
    result = await ex.wait_for(eid, timeout=WAIT_TIMEOUT)
    if not result.ok or result.value != {"eid": eid}:
        raise RuntimeError(f"execution {eid} finished with {result!r}")


async def send_all(ex: Stent, ids: list[str], senders: int) -> Metrics:
    """``senders`` tasks share the ids; completion is awaited (``wait_for``) alongside."""
    pending = iter(ids)

    async def sender() -> None:
        for eid in pending:
            await send(ex, eid)

    t0 = time.perf_counter()
    waiting = asyncio.gather(*(complete(ex, eid) for eid in ids))
    await asyncio.gather(*(sender() for _ in range(senders)))
    sent = time.perf_counter() - t0
    await waiting
    elapsed = time.perf_counter() - t0
    return {"rate": len(ids) / elapsed, "send_rate": len(ids) / sent, "elapsed_s": elapsed}


# ---------------------------------------------------------------------------- scenarios
async def scenario_waiting(ex: Stent, ids: list[str]) -> Metrics:
    return {}


async def scenario_concurrent(ex: Stent, ids: list[str]) -> Metrics:
    return await send_all(ex, ids, senders=50)


async def scenario_sequential(ex: Stent, ids: list[str]) -> Metrics:
    return await send_all(ex, ids, senders=1)


async def scenario_latency(ex: Stent, ids: list[str]) -> Metrics:
    latencies: list[float] = []
    for eid in ids:
        t0 = time.perf_counter()
        await send(ex, eid)
        await complete(ex, eid)
        latencies.append((time.perf_counter() - t0) * 1000)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98], "max": max(latencies)}


# key -> (label, executions dispatched and waiting before the measured part, measured part)
SCENARIOS: dict[str, tuple[str, int, Scenario]] = {
    "a": ("(a) 1,000 dispatched until all wait", 1_000, scenario_waiting),
    "b": ("(b) 1,000 signals, 50 concurrent senders", 1_000, scenario_concurrent),
    "c": ("(c) 1,000 signals, 1 sequential sender", 1_000, scenario_sequential),
    "d": ("(d) 200 sequential send→completion", 200, scenario_latency),
    "e": ("(e) 10,000 waiting executions", 10_000, scenario_waiting),
}


async def run_scenario(key: str, db: Path, synchronous: str) -> Metrics:
    _, n, measure = SCENARIOS[key]
    async with Stent(f"sqlite+aiosqlite:///{db}", sqlite_synchronous=synchronous) as ex:
        ids, metrics = await start_waiting(ex, db, n)
        metrics["resident"] = len(ex.resident())
        metrics.update(await measure(ex, ids))
    metrics["rss_mb"] = peak_rss_mb()
    return metrics


# ---------------------------------------------------------------------------- report
def row(key: str, m: Metrics) -> tuple[str, str, bool | None]:
    """(measured, target, ok) of one scenario's metrics."""
    if key == "a":
        return (
            f"{m['waiting_s']:.2f} s (dispatch {m['dispatch_s']:.2f} s), peak RSS "
            f"{m['rss_mb']:.0f} MB, {m['resident']:,.0f} resident",
            "—",
            None,
        )
    if key in ("b", "c"):
        goal = 2_000 if key == "b" else 500
        return (
            f"{m['rate']:,.0f} signals/s ({m['elapsed_s']:.2f} s; sends alone "
            f"{m['send_rate']:,.0f}/s)",
            f"≥ {goal:,} signals/s",
            m["rate"] >= goal,
        )
    if key == "d":
        return (
            f"p50 {m['p50']:.1f} / p95 {m['p95']:.1f} / p99 {m['p99']:.1f} ms (max {m['max']:.0f})",
            "p50 ≤ 5 ms, p99 ≤ 25 ms",
            m["p50"] <= 5 and m["p99"] <= 25,
        )
    return (
        f"peak RSS {m['rss_mb']:.0f} MB ({m['resident']:,.0f} resident; all waiting "
        f"after {m['waiting_s']:.1f} s)",
        "≤ 300 MB",
        m["rss_mb"] <= 300,
    )


def run_child(key: str, synchronous: str) -> tuple[str, str, str]:
    """Run one scenario in a fresh interpreter on a fresh database: (measured, target, ok?)."""
    with tempfile.TemporaryDirectory(prefix="stent-bench-") as tmp:
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            key,
            "--db",
            str(Path(tmp) / "bench.db"),
            "--synchronous",
            synchronous,
        ]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            return "timed out after 900 s", "", "❌"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return f"failed: {last[:120]}", "", "❌"
    measured, target, ok = row(key, json.loads(done.stdout.strip().splitlines()[-1]))
    return measured, target, "—" if ok is None else ("✅" if ok else "❌")


def machine_info(synchronous: str) -> str:
    return (
        f"cpus: {os.cpu_count()} · python {platform.python_version()} · "
        f"sqlite {sqlite3.sqlite_version} · {platform.platform()} · "
        f"journal WAL, synchronous={synchronous}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--only",
        default=",".join(SCENARIOS),
        help="comma-separated scenarios to run, e.g. a,b (default: all)",
    )
    parser.add_argument(
        "--synchronous",
        default="FULL",
        type=str.upper,
        choices=["FULL", "NORMAL"],
        help="SQLite synchronous pragma",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        metrics = asyncio.run(run_scenario(args.child, Path(args.db), args.synchronous))
        print(json.dumps(metrics))
        return 0
    keys = [k.strip() for k in args.only.split(",") if k.strip()]
    unknown = [k for k in keys if k not in SCENARIOS]
    if unknown:
        choices = ", ".join(SCENARIOS)
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {choices}")
    print(machine_info(args.synchronous), end="\n\n", flush=True)
    print("| scenario | measured | target | ok? |\n| --- | --- | --- | --- |", flush=True)
    crashed = False
    for key in keys:
        measured, target, ok = run_child(key, args.synchronous)
        crashed |= not target  # a missed target is a ❌ row, a crashed scenario exits 1
        print(f"| {SCENARIOS[key][0]} | {measured} | {target} | {ok} |", flush=True)
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
