"""Alert planning without a store, a clock or a channel: plain snapshots in, plans out."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

from borghive.service.alerts.messages import RepoFacts
from borghive.service.alerts.plan import (
    ChannelRow,
    RepoRow,
    Snapshot,
    StateRow,
    conditions,
    firing,
    plan_deliveries,
    quota_level,
)

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
DAY = 86400


def snapshot(
    *, last_update: dt.datetime | None, states: dict[tuple[int, int, str], StateRow] | None = None
) -> Snapshot:
    facts = RepoFacts(
        owner="alice",
        name="laptop",
        url="ssh://r1@backup.example.org:22/./laptop",
        created=NOW - dt.timedelta(days=30),
        last_update=last_update,
        alert_after=DAY,
        quota=1000,
        bytes_used=950,
        measured=NOW - dt.timedelta(hours=1),
    )
    repo = RepoRow(id=1, owner_id=7, realert=DAY, expiration=30 * DAY, facts=facts)
    channel = ChannelRow(id=3, owner_id=7, kind="email", target="alice@example.org")
    taken = Snapshot(NOW, {1: repo}, {7: [channel]}, dict(states or {}))
    taken.conditions.extend(conditions(taken, warn_percent=90))
    return taken


def test_a_stale_repository_and_a_quota_at_the_warning_level_fire() -> None:
    stale_since = NOW - dt.timedelta(days=3)
    taken = snapshot(last_update=stale_since)

    assert [(kind, since, level) for _, kind, since, level in taken.conditions] == [
        ("stale", stale_since, 0),
        ("quota", NOW - dt.timedelta(hours=1), 90),
    ]
    plans, dropped, unnotified = plan_deliveries(taken)
    assert [(p.event, p.channel.target) for p in plans] == [
        ("alert", "alice@example.org"),
        ("quota", "alice@example.org"),
    ]
    assert (dropped, unnotified) == ([], 0)
    assert [(f.repository, f.kind, f.notified) for f in firing(taken)] == [
        ("alice/laptop", "quota", None),
        ("alice/laptop", "stale", None),
    ]


def test_a_reminder_waits_for_the_realert_interval() -> None:
    since = NOW - dt.timedelta(days=3)
    sent = StateRow(5, since, 0, NOW - dt.timedelta(hours=2), 1, False, 0)
    quota = StateRow(6, NOW - dt.timedelta(hours=1), 90, NOW, 1, False, 0)
    taken = snapshot(last_update=since, states={(1, 3, "stale"): sent, (1, 3, "quota"): quota})
    assert plan_deliveries(taken)[0] == []

    sent_long_ago = StateRow(5, since, 0, NOW - dt.timedelta(days=2), 1, False, 0)
    again = snapshot(last_update=since, states={(1, 3, "stale"): sent_long_ago})
    assert [p.event for p in plan_deliveries(again)[0]] == ["alert", "quota"]


def test_backups_that_resumed_get_a_recovery_notice() -> None:
    episode = StateRow(5, NOW - dt.timedelta(days=3), 0, NOW - dt.timedelta(days=1), 2, False, 0)
    taken = snapshot(last_update=NOW - dt.timedelta(hours=1), states={(1, 3, "stale"): episode})

    plans, dropped, _ = plan_deliveries(taken)

    assert [(p.event, p.state_id) for p in plans if p.kind == "stale"] == [("recovered", 5)]
    assert dropped == []


def test_quota_levels() -> None:
    assert [quota_level(used, 1000, 90) for used in (0, 899, 900, 999, 1000, 5000)] == [
        0, 0, 90, 90, 100, 100,
    ]  # fmt: skip


def test_planning_imports_no_store() -> None:
    """The pure modules of alerts and of the watch daemon load without peewee."""
    code = (
        "import sys\n"
        "import borghive.service.alerts.plan, borghive.watch.scan, borghive.watch.outbox\n"
        "import borghive.watch.statistics, borghive.watch.classify\n"
        "print(sorted(m for m in ('peewee', 'borghive.store') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
