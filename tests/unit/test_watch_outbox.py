"""The outbox: bounded event queue, one time entry per repository, exponential backoff."""

from __future__ import annotations

import datetime as dt

from borghive.service.events.records import EventRecord, RepoKey, RepoTimes
from borghive.watch.outbox import MAX_DELAY, Outbox

KEY = RepoKey("r1", "laptop")
T0 = dt.datetime(2026, 1, 1)


def test_bounded_and_ordered() -> None:
    box = Outbox(limit=3)
    for number in range(5):
        box.add_event(EventRecord(KEY, "opened", T0, str(number)))
    assert [e.detail for e in box.events] == ["2", "3", "4"]
    assert box.dropped == 2


def test_backoff_grows_to_a_ceiling_and_resets_on_success() -> None:
    box = Outbox()
    box.add_event(EventRecord(KEY, "opened", T0))
    assert box.due(0.0)
    delays = [box.failed(0.0) for _ in range(8)]
    assert delays[:4] == [0.5, 1.0, 2.0, 4.0]
    assert delays[-1] == MAX_DELAY
    assert box.in_outage and not box.due(MAX_DELAY - 1) and box.due(MAX_DELAY)
    events, times = box.take()
    box.written(len(events), times)
    assert not box.pending and not box.in_outage


def test_times_written_are_cleared_unless_replaced_meanwhile() -> None:
    box = Outbox()
    box.add_times(KEY, RepoTimes(T0, None))
    box.add_event(EventRecord(KEY, "opened", T0))
    events, times = box.take()
    box.add_event(EventRecord(KEY, "closed", T0))
    box.add_times(KEY, RepoTimes(T0 + dt.timedelta(seconds=1), None))
    box.written(len(events), times)
    assert [e.kind for e in box.events] == ["closed"]
    assert box.times == {KEY: RepoTimes(T0 + dt.timedelta(seconds=1), None)}
    box.forget(KEY)
    assert box.times == {}
