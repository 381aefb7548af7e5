"""Parse the durations workflows write for timeouts and sleeps (``"48h"``, ``"1h30m"``).

Humans write ``"2d"`` more readily than ``172800``, so every API that takes a duration
accepts both and normalises it here to seconds.
"""

from __future__ import annotations

import datetime
import math
import re

_UNIT_SECONDS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_NUMBER = r"\d+(?:\.\d+)?"
_PART = re.compile(rf"({_NUMBER})\s*(ms|w|d|h|m|s)")
_DURATION = re.compile(rf"(?:{_NUMBER}\s*(?:ms|w|d|h|m|s)\s*)+")
_PLAIN = re.compile(_NUMBER)


def to_seconds(value: str | int | float | datetime.timedelta) -> float:
    """``value`` in seconds; numbers are seconds already.

    Raises ``ValueError`` for a negative duration or a string that is not one, and
    ``TypeError`` for a value of another type (``bool`` included, it is no duration).
    """
    if isinstance(value, datetime.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"a duration must be a str, number or timedelta, not {value!r}")
    elif isinstance(value, int | float):
        seconds = float(value)
        if not math.isfinite(seconds):
            raise ValueError(f"duration {value!r} is not a finite number of seconds")
    else:
        seconds = _parse(value)
    if seconds < 0:
        raise ValueError(f"duration {value!r} is negative")
    return seconds


def _parse(text: str) -> float:
    """Seconds in a duration string such as ``"30"``, ``"500ms"`` or ``"1w 2d"``."""
    stripped = text.strip()
    if not stripped:
        raise ValueError("duration is an empty string; write e.g. '30s', '15m' or '48h'")
    if stripped.startswith("-"):
        raise ValueError(f"duration {text!r} is negative")
    if _PLAIN.fullmatch(stripped):
        return float(stripped)
    if not _DURATION.fullmatch(stripped):
        raise ValueError(
            f"invalid duration {text!r}: write a number of seconds or amounts with units "
            "w, d, h, m, s, ms, e.g. '48h' or '1h30m'"
        )
    seconds = 0.0
    units: set[str] = set()
    for amount, unit in _PART.findall(stripped):
        if unit in units:
            raise ValueError(f"invalid duration {text!r}: unit {unit!r} appears twice")
        units.add(unit)
        seconds += float(amount) * _UNIT_SECONDS[unit]
    return seconds
