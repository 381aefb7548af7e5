"""How long the tests wait for what they expect, on a machine that may be busy.

Tests never assert on time, but they must give up some day. Two kinds of patience, shared
by ``tests/`` and ``e2e/``:

- :func:`patience` for one thing to happen (an execution finishes, a server answers): a
  bound that is generous on an idle machine, stretched by ``STENT_TEST_TIME_SCALE``
  (default :data:`DEFAULT_SCALE`, so a machine three times as busy as an idle one still
  passes; another copy of the suite, or other people's, on the same two cores is that).
- :func:`until_progress` and :func:`wait_progress` for many things (2,000 executions
  replayed): they wait for as long as the count keeps moving, and fail only when it stood
  still for a while, however long the whole takes.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

SCALE_VARIABLE = "STENT_TEST_TIME_SCALE"
DEFAULT_SCALE = 3.0


def time_scale() -> float:
    """``STENT_TEST_TIME_SCALE`` (a positive number), or :data:`DEFAULT_SCALE`."""
    text = os.environ.get(SCALE_VARIABLE, "").strip()
    if not text:
        return DEFAULT_SCALE
    try:
        scale = float(text)
    except ValueError:
        raise ValueError(f"{SCALE_VARIABLE}={text!r} is not a number") from None
    if not scale > 0:
        raise ValueError(f"{SCALE_VARIABLE}={text!r} must be above 0")
    return scale


def patience(seconds: float) -> float:
    """``seconds`` (enough on an idle machine) stretched for a busy one."""
    return seconds * time_scale()


def _stalled(what: str, value: object, stall: float) -> AssertionError:
    return AssertionError(
        f"{what}: no progress for {stall:.0f} s (still {value!r}); on a machine this busy, "
        f"raise {SCALE_VARIABLE} (now {time_scale():g})"
    )


async def until_progress(
    measure: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    what: str,
    stall: float = 10.0,
    interval: float = 0.05,
) -> T:
    """Poll ``measure()`` until ``done(value)``; that value. Fails (saying ``what``) only
    when the value stayed the same for ``patience(stall)`` seconds: slow is fine, stuck
    is not."""
    loop = asyncio.get_running_loop()
    last: object = object()
    moved = loop.time()
    while True:
        value = await measure()
        if done(value):
            return value
        if value != last:
            last, moved = value, loop.time()
        elif loop.time() - moved > patience(stall):
            raise _stalled(what, value, patience(stall))
        await asyncio.sleep(interval)


def wait_progress(
    measure: Callable[[], T],
    done: Callable[[T], bool],
    what: str,
    stall: float = 10.0,
    interval: float = 0.05,
) -> T:
    """:func:`until_progress` for synchronous code (the browser tests, process starts)."""
    last: object = object()
    moved = time.monotonic()
    while True:
        value = measure()
        if done(value):
            return value
        if value != last:
            last, moved = value, time.monotonic()
        elif time.monotonic() - moved > patience(stall):
            raise _stalled(what, value, patience(stall))
        time.sleep(interval)
