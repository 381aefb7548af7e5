"""The tests' own patience (tests/patience.py): slow is waited for, stuck fails."""

from __future__ import annotations

import itertools

import pytest
from patience import DEFAULT_SCALE, SCALE_VARIABLE, patience, time_scale, until_progress


async def test_a_count_that_keeps_moving_is_waited_for_past_the_stall_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SCALE_VARIABLE, "1")
    counter = itertools.count(1)

    async def measure() -> int:
        return next(counter)  # moves at every look, however late the look comes

    reached = await until_progress(measure, lambda n: n >= 20, "counting", 0.01, 0.01)
    assert reached == 20  # ~0.2 s in all, twenty times the stall time


async def test_a_count_that_stands_still_fails_saying_what_and_where_it_stopped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SCALE_VARIABLE, "1")

    async def measure() -> int:
        return 7

    with pytest.raises(AssertionError, match=r"counting: no progress .*still 7.*STENT_TEST"):
        await until_progress(measure, lambda n: n >= 20, "counting", 0.05, 0.01)


def test_the_scale_stretches_every_patience_and_refuses_nonsense(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(SCALE_VARIABLE, raising=False)
    assert patience(10) == 10 * DEFAULT_SCALE
    monkeypatch.setenv(SCALE_VARIABLE, "0.5")
    assert patience(10) == 5
    for wrong in ("0", "-1", "slow"):
        monkeypatch.setenv(SCALE_VARIABLE, wrong)
        with pytest.raises(ValueError, match=SCALE_VARIABLE):
            time_scale()
