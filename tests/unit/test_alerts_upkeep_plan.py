"""Planning of the maintenance alerts (check-failed, lock-stuck) without a store, a clock
or a channel: plain snapshots in, plans out."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from borghive.service.alerts.messages import RepoFacts
from borghive.service.alerts.plan import ChannelRow, RepoRow, Snapshot, StateRow, plan_deliveries
from borghive.service.alerts.upkeep import plan_upkeep
from borghive.service.alerts.upkeep_messages import CHECK_FAILED, LOCK_STUCK, LockHolding, Trouble
from borghive.service.alerts.upkeep_snapshot import one_line

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
HOUR = 3600
DAY = 86400
FAILED = NOW - dt.timedelta(hours=2)
LOCKED = NOW - dt.timedelta(hours=8)
HOLDER = LockHolding(LOCKED, 42, "storage-1", "laptop", "192.0.2.1", 9)


def snapshot(
    *,
    troubles: dict[str, Trouble] | None = None,
    states: dict[str, StateRow] | None = None,
    check: tuple[dt.datetime | None, bool | None] = (FAILED, False),
    lock_unknown: bool = False,
) -> Snapshot:
    facts = RepoFacts(
        owner="alice",
        name="laptop",
        url="ssh://r1@backup.example.org:22/./laptop",
        created=NOW - dt.timedelta(days=30),
        last_update=NOW - dt.timedelta(hours=1),
        alert_after=None,
        quota=None,
        bytes_used=None,
        measured=None,
    )
    repo = RepoRow(id=1, owner_id=7, realert=12 * HOUR, expiration=5 * DAY, facts=facts)
    channel = ChannelRow(id=3, owner_id=7, kind="email", target="alice@example.org")
    taken = Snapshot(
        NOW, {1: repo}, {7: [channel]}, {(1, 3, k): s for k, s in (states or {}).items()}
    )
    for kind, trouble in (troubles or {}).items():
        taken.troubles[(1, kind)] = trouble
        taken.conditions.append((repo, kind, trouble.since, 0))
    taken.checks[1] = check
    if lock_unknown:
        taken.lock_unknown.add(1)
    return taken


def failed(detail: str = "segment 1: bad", when: dt.datetime = FAILED) -> Trouble:
    return Trouble(CHECK_FAILED, when, detail, check_detail=detail)


def stuck(since: dt.datetime = LOCKED) -> Trouble:
    holder = LockHolding(since, 42, "storage-1", "laptop", "192.0.2.1", 9)
    return Trouble(LOCK_STUCK, since, holder.describe(), lock=holder, limit=6 * HOUR)


def state(since: dt.datetime, sent: dt.datetime | None, detail: str, **values: object) -> StateRow:
    return StateRow(
        id=11,
        since=since,
        level=0,
        last_sent=sent,
        sent_count=1 if sent else 0,
        recovering=bool(values.get("recovering", False)),
        failures=0,
        detail=detail,
    )


def test_the_stale_and_quota_planner_leaves_the_maintenance_kinds_alone() -> None:
    taken = snapshot(
        troubles={CHECK_FAILED: failed()},
        states={LOCK_STUCK: state(LOCKED, NOW - dt.timedelta(hours=1), "x")},
    )
    assert plan_deliveries(taken) == ([], [], 0)


def test_first_alerts_then_quiet_then_reminders_until_the_expiration() -> None:
    plans, dropped = plan_upkeep(snapshot(troubles={CHECK_FAILED: failed(), LOCK_STUCK: stuck()}))
    assert sorted(p.event for p in plans) == [CHECK_FAILED, LOCK_STUCK] and dropped == []
    [check] = [p for p in plans if p.kind == CHECK_FAILED]
    assert check.state_detail == "segment 1: bad" and check.state is None
    assert "segment 1: bad" in check.message.text

    told = NOW - dt.timedelta(hours=1)
    quiet = snapshot(troubles={LOCK_STUCK: stuck()}, states={LOCK_STUCK: state(LOCKED, told, "x")})
    assert plan_upkeep(quiet) == ([], [])
    due = snapshot(
        troubles={LOCK_STUCK: stuck()},
        states={LOCK_STUCK: state(LOCKED, NOW - dt.timedelta(hours=13), "x")},
    )
    [reminder] = plan_upkeep(due)[0]
    assert reminder.state is not None and reminder.since == LOCKED
    # Five days after the lock was taken the reminders stop.
    old = NOW - dt.timedelta(days=6)
    expired = snapshot(
        troubles={LOCK_STUCK: stuck(old)},
        states={LOCK_STUCK: state(old, NOW - dt.timedelta(hours=13), "x")},
    )
    assert plan_upkeep(expired) == ([], [])


def test_another_lock_is_another_episode() -> None:
    earlier = LOCKED - dt.timedelta(hours=3)
    taken = snapshot(
        troubles={LOCK_STUCK: stuck()},
        states={LOCK_STUCK: state(earlier, NOW - dt.timedelta(hours=1), "x")},
    )
    [plan] = plan_upkeep(taken)[0]
    assert plan.state is None and plan.state_id == 11 and plan.since == LOCKED


def test_a_check_failing_again_continues_the_episode_unless_the_damage_changed() -> None:
    first = FAILED - dt.timedelta(days=1)
    told = NOW - dt.timedelta(hours=1)
    same = snapshot(
        troubles={CHECK_FAILED: failed()},
        states={CHECK_FAILED: state(first, told, "segment 1: bad")},
    )
    assert plan_upkeep(same) == ([], [])
    other = snapshot(
        troubles={CHECK_FAILED: failed("segment 2: bad")},
        states={CHECK_FAILED: state(first, told, "segment 1: bad")},
    )
    [plan] = plan_upkeep(other)[0]
    assert plan.since == first and plan.state_detail == "segment 2: bad"


def test_recoveries_and_what_is_dropped_quietly() -> None:
    told = NOW - dt.timedelta(hours=1)
    passed = snapshot(
        states={CHECK_FAILED: state(FAILED, told, "segment 1: bad")},
        check=(NOW - dt.timedelta(minutes=5), True),
    )
    [notice] = plan_upkeep(passed)[0]
    assert notice.event == "check-passed" and notice.recovery
    assert plan_deliveries(passed)[1] == []  # not the stale planner's to drop
    # A pass no newer than the failure, or no result at all: nothing to announce.
    for check in ((FAILED - dt.timedelta(hours=1), True), (None, None)):
        quiet = snapshot(states={CHECK_FAILED: state(FAILED, told, "x")}, check=check)
        assert plan_upkeep(quiet) == ([], [11])
    # Never told: dropped without a notice.
    never = snapshot(states={LOCK_STUCK: state(LOCKED, None, "x")})
    assert plan_upkeep(never) == ([], [11])
    # The lock is gone: a notice naming who held it.
    released = snapshot(states={LOCK_STUCK: state(LOCKED, told, HOLDER.describe())})
    [gone] = plan_upkeep(released)[0]
    assert gone.event == "lock-released" and HOLDER.describe() in gone.message.text
    # The lock could not be read this time: neither over nor going on.
    unknown = snapshot(states={LOCK_STUCK: state(LOCKED, told, "x")}, lock_unknown=True)
    assert plan_upkeep(unknown) == ([], [])
    # A recovery whose send failed is tried again.
    retry = snapshot(states={LOCK_STUCK: state(LOCKED, told, "x", recovering=True)})
    assert [p.event for p in plan_upkeep(retry)[0]] == ["lock-released"]


@given(st.text(max_size=3000))
def test_check_details_become_one_bounded_printable_line(text: str) -> None:
    line = one_line(text)
    assert len(line) <= 500 and line.isprintable() and "\n" not in line
    assert line == line.strip()
    words = [w for w in "".join(c if c.isprintable() else " " for c in text).split()]
    if len(" ".join(words)) <= 500:
        assert line == " ".join(words)


def _documented_bodies() -> dict[str, dict[str, object]]:
    text = (Path(__file__).resolve().parents[2] / "docs/reference/webhook.md").read_text()
    found: dict[str, dict[str, object]] = {}
    for block in re.findall(r"```json\n(.+?)\n```", text, re.DOTALL):
        body = json.loads(block)
        found[str(body["event"])] = body
    return found


def test_the_webhook_reference_shows_each_maintenance_event_with_its_real_keys() -> None:
    documented = _documented_bodies()
    taken = snapshot(troubles={CHECK_FAILED: failed(), LOCK_STUCK: stuck()})
    told = NOW - dt.timedelta(hours=1)
    over = snapshot(
        states={
            CHECK_FAILED: state(FAILED, told, "segment 1: bad"),
            LOCK_STUCK: state(LOCKED, told, HOLDER.describe()),
        },
        check=(NOW, True),
    )
    real = {p.event: p.message.data for p in plan_upkeep(taken)[0] + plan_upkeep(over)[0]}
    assert set(real) == {"check-failed", "check-passed", "lock-stuck", "lock-released"}
    for event, body in real.items():
        assert event in documented, f"docs/reference/webhook.md has no {event} example"
        assert set(documented[event]) == set(body), event
        for nested in ("check", "lock"):
            if nested in body:
                assert set(documented[event][nested]) == set(body[nested]), (event, nested)  # type: ignore[arg-type]
