"""rules/commits: which commits are maintenance's (and so never move last update)."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from borghive.rules.commits import in_window, is_maintenance_commit

T0 = dt.datetime(2026, 3, 1, 2, 0, 0)
moments = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1))


def test_a_commit_inside_a_run_is_maintenance_and_outside_is_not() -> None:
    window = (T0, T0 + dt.timedelta(minutes=5))
    assert is_maintenance_commit(T0 + dt.timedelta(minutes=1), windows=[window])
    assert is_maintenance_commit(T0, windows=[window])  # ends included
    assert not is_maintenance_commit(T0 + dt.timedelta(minutes=6), windows=[window])
    assert not is_maintenance_commit(T0 - dt.timedelta(microseconds=1), windows=[window])


def test_an_unfinished_run_covers_everything_after_its_start() -> None:
    assert is_maintenance_commit(T0 + dt.timedelta(days=30), windows=[(T0, None)])
    assert not is_maintenance_commit(T0 - dt.timedelta(seconds=1), windows=[(T0, None)])


def test_the_marker_alone_makes_it_maintenance() -> None:
    assert is_maintenance_commit(T0, marked=True)
    assert not is_maintenance_commit(T0)


def test_a_commit_read_again_after_maintenance_recorded_it_stays_maintenance() -> None:
    later = T0 + dt.timedelta(seconds=3)
    assert is_maintenance_commit(T0, last_access=later, last_access_by="maintenance")
    assert is_maintenance_commit(T0, last_access=T0, last_access_by="maintenance")
    # A newer commit than maintenance's last access is a client's.
    assert not is_maintenance_commit(later, last_access=T0, last_access_by="maintenance")
    assert not is_maintenance_commit(T0, last_access=later, last_access_by="client")


@given(moments, moments, st.one_of(st.none(), moments))
def test_in_window_matches_the_interval(moment: dt.datetime, start: dt.datetime,
                                        end: dt.datetime | None) -> None:  # fmt: skip
    expected = start <= moment and (end is None or moment <= end)
    assert in_window(moment, [(start, end)]) is expected
    assert in_window(moment, []) is False
