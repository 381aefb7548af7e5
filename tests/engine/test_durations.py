"""Durations written for timeouts and sleeps become seconds."""

from __future__ import annotations

import datetime

import pytest

from app.engine.durations import to_seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("15m", 900.0),
        ("48h", 172800.0),
        ("2d", 172800.0),
        ("1w", 604800.0),
        ("500ms", 0.5),
        ("1.5h", 5400.0),
    ],
)
def test_a_duration_with_one_unit_is_converted_to_seconds(text: str, seconds: float) -> None:
    assert to_seconds(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1h30m", 5400.0),
        ("1d12h", 129600.0),
        ("1m30s500ms", 90.5),
        ("1w 2d", 777600.0),
        ("  2h  ", 7200.0),
    ],
)
def test_combined_units_add_up(text: str, seconds: float) -> None:
    assert to_seconds(text) == pytest.approx(seconds)


@pytest.mark.parametrize(("value", "seconds"), [(90, 90.0), (1.5, 1.5), ("45", 45.0), ("2.5", 2.5)])
def test_a_plain_number_is_seconds(value: int | float | str, seconds: float) -> None:
    result = to_seconds(value)
    assert result == seconds
    assert isinstance(result, float)


def test_a_timedelta_is_converted_to_seconds() -> None:
    assert to_seconds(datetime.timedelta(hours=1, milliseconds=250)) == 3600.25


@pytest.mark.parametrize("value", [0, 0.0, "0", "0s", "0h0m", datetime.timedelta()])
def test_zero_is_allowed(value: str | int | float | datetime.timedelta) -> None:
    assert to_seconds(value) == 0.0


@pytest.mark.parametrize("value", [-1, -0.5, "-5s", "-30", datetime.timedelta(seconds=-1)])
def test_a_negative_duration_is_rejected(value: str | int | float | datetime.timedelta) -> None:
    with pytest.raises(ValueError, match="negative"):
        to_seconds(value)


@pytest.mark.parametrize("text", ["", "   "])
def test_an_empty_string_is_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        to_seconds(text)


@pytest.mark.parametrize(
    "text", ["abc", "5x", "h", "1h30", "1.h", "5 minutes", "1e3", "nan", "inf", "1h 1h", "1m1m"]
)
def test_garbage_is_rejected_with_a_clear_message(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        to_seconds(text)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_non_finite_number_is_rejected(value: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        to_seconds(value)


@pytest.mark.parametrize("value", [True, None, [1], b"5s"])
def test_a_value_of_another_type_is_a_type_error(value: object) -> None:
    with pytest.raises(TypeError, match="must be a str, number or timedelta"):
        to_seconds(value)  # type: ignore[arg-type]
