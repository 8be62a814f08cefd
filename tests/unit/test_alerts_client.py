"""What client reports mean for alerts, as pure rules: open runs, stale references."""

from __future__ import annotations

import datetime as dt

from borghive.service.alerts.client import (
    CLIENT_FAILED,
    CLIENT_TIMEOUT,
    ClientFacts,
    ReportSummary,
    client_conditions,
    client_resumed,
    is_failure,
    is_success,
    oldest_open_start,
    stale_old,
)
from borghive.service.alerts.client_messages import timeout_message
from borghive.service.alerts.messages import RepoFacts

T0 = dt.datetime(2026, 3, 1, 1, 0, tzinfo=dt.UTC)
DAY = 86400


def report(
    kind: str, hours: float, run_id: str | None = None, status: int | None = None
) -> ReportSummary:
    return ReportSummary(T0 + dt.timedelta(hours=hours), kind, run_id, status, None, None)


def facts(**values: object) -> ClientFacts:
    base: dict[str, object] = {
        "first_report": T0,
        "last_success": None,
        "failing_since": None,
        "failure": None,
        "log": "",
        "log_shortened": False,
        "open_run": None,
    }
    return ClientFacts(**(base | values))  # type: ignore[arg-type]


def test_failure_and_success_by_kind_and_exit_status() -> None:
    assert is_failure("fail", None) and is_failure("success", 2) and is_failure("log", 1)
    assert not is_failure("success", 0) and not is_failure("start", None)
    assert is_success("success", None) and is_success("success", 0)
    assert not is_success("success", 3) and not is_success("fail", None)


def test_a_start_with_a_run_id_ends_only_with_the_same_run_id() -> None:
    a, b = report("start", 0, "a"), report("start", 1, "b")
    assert oldest_open_start([a, b, report("fail", 2, "b")]) == a
    assert oldest_open_start([a, b, report("fail", 2, "a")]) == b
    assert oldest_open_start([a, b, report("fail", 2, "a"), report("fail", 3, "b")]) is None


def test_a_start_without_run_id_ends_with_any_end_after_it() -> None:
    start = report("start", 0)
    assert oldest_open_start([start]) == start
    assert oldest_open_start([start, report("fail", 1)]) is None
    assert oldest_open_start([start, report("fail", 1, "other")]) is None
    later = report("start", 2)
    assert oldest_open_start([start, report("fail", 1), later]) == later
    assert oldest_open_start([report("fail", 0), start]) == start  # an end before it


def test_timeout_holds_only_after_the_run_timeout() -> None:
    run = report("start", 0, "r1")
    client = facts(open_run=run)
    assert (
        client_conditions(client, run.received + dt.timedelta(hours=5, minutes=59), 6 * 3600) == []
    )
    assert client_conditions(client, run.received + dt.timedelta(hours=6), 6 * 3600) == [
        (CLIENT_TIMEOUT, run.received)
    ]


def test_failed_holds_from_the_first_failure_after_the_last_success() -> None:
    first = T0 + dt.timedelta(days=1)
    client = facts(failing_since=first, failure=report("fail", 30))
    assert client_conditions(client, T0 + dt.timedelta(days=2), 6 * 3600) == [
        (CLIENT_FAILED, first)
    ]


def test_stale_names_each_old_reference() -> None:
    now = T0 + dt.timedelta(days=10)
    fresh, old = now - dt.timedelta(hours=2), now - dt.timedelta(days=3)
    assert stale_old(fresh, facts(last_success=fresh), DAY, now) == {}
    assert stale_old(old, facts(last_success=fresh), DAY, now) == {"last_update": old}
    assert stale_old(fresh, facts(last_success=old), DAY, now) == {"last_success": old}
    # Never a success: counted from the first report, not from the repository's creation.
    assert stale_old(fresh, facts(first_report=fresh), DAY, now) == {}
    assert stale_old(fresh, facts(first_report=old), DAY, now) == {"last_success": old}


def test_alerts_end_by_resuming_or_quietly() -> None:
    since = T0 + dt.timedelta(hours=1)
    later = since + dt.timedelta(hours=1)
    assert client_resumed(CLIENT_FAILED, since, later, facts(last_success=later))
    assert not client_resumed(CLIENT_FAILED, since, later, facts(last_success=T0))
    assert not client_resumed(CLIENT_FAILED, since, later, None)  # reports deleted
    assert client_resumed(CLIENT_TIMEOUT, since, later, facts(open_run=None))
    assert not client_resumed(CLIENT_TIMEOUT, since, later, facts(open_run=report("start", 1)))
    assert client_resumed("stale", since, later, facts(last_success=later))
    assert not client_resumed("stale", since, T0, facts(last_success=later))


def test_the_client_kinds_are_alert_kinds_and_fit_the_column() -> None:
    from borghive.service.alerts.client import CLIENT_KINDS
    from borghive.store.models import ALERT_KINDS, AlertState

    assert set(CLIENT_KINDS) <= set(ALERT_KINDS)
    assert all(len(kind) <= AlertState.kind.max_length for kind in ALERT_KINDS)


def test_a_run_timeout_of_seconds_names_the_age_in_seconds() -> None:
    # Ages are whole minutes, which read "0s" under one: a run timeout of a few seconds
    # (allowed) would be reported as a run that has not ended after 0s.
    repo = RepoFacts("alice", "laptop", "ssh://u@h:22/./laptop", T0, None, None, None, None, None)
    run = report("start", 0)
    later = run.received + dt.timedelta(seconds=42)
    message = timeout_message(repo, facts(open_run=run), run, later, 5, 3600, T0 + dt.timedelta(5))
    assert message.subject == "[borghive] Backup run of alice/laptop has not ended after 42s"
    assert "and no end since (42s); runs are expected to end within 5s." in message.text
    hours = timeout_message(
        repo, facts(open_run=run), run, run.received + dt.timedelta(hours=6, seconds=59), 5, 3600,
        T0 + dt.timedelta(5),
    )  # fmt: skip
    assert hours.subject.endswith("has not ended after 6h")
