"""Maintenance schedules: ``7d``/``never`` and the nightly window."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from borghive.errors import InvalidInputError
from borghive.rules.schedule import NEVER, format_every, in_window, parse_every, parse_window


def test_every_reads_durations_and_never() -> None:
    assert parse_every("7d") == 7 * 86400
    assert parse_every(" Never ") == NEVER
    assert format_every(NEVER) == "never" and format_every(3600) == "1h"
    assert format_every(None) == "-"


@pytest.mark.parametrize("text", ["", "0d", "weekly", "-1d", "7d;rm", "1e9d"])
def test_bad_schedules_are_refused(text: str) -> None:
    with pytest.raises(InvalidInputError):
        parse_every(text)


def test_windows_wrap_past_midnight() -> None:
    night = parse_window("23:30-04:00")
    assert night == (23 * 60 + 30, 4 * 60)
    at = dt.datetime(2026, 12, 1)
    assert in_window(night, at.replace(hour=23, minute=45))
    assert in_window(night, at.replace(hour=3, minute=59))
    assert not in_window(night, at.replace(hour=4))
    assert not in_window(night, at.replace(hour=12))
    day = parse_window("01:00-05:00")
    assert in_window(day, at.replace(hour=1)) and not in_window(day, at.replace(hour=5))
    assert parse_window("") is None and in_window(None, at)


@pytest.mark.parametrize("text", ["1-5", "24:00-01:00", "01:60-02:00", "01:00-01:00", "1:00-2:00"])
def test_bad_windows_are_refused(text: str) -> None:
    with pytest.raises(InvalidInputError):
        parse_window(text)


@given(st.text(max_size=20))
def test_any_window_text_parses_or_is_refused(text: str) -> None:
    try:
        window = parse_window(text)
    except InvalidInputError as exc:
        assert "window" in exc.message
    else:
        assert window is None or all(0 <= part < 1440 for part in window)
