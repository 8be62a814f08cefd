"""The deletion alert's planning against stored histories on both store back ends (no
borg: the rows the history reader writes), told to a real webhook receiver: a transaction
joining the episode is told at once, the history before the window is summed in the store
to the same estimate as a full read, and deletions past the owner's alert expiration are
neither told nor taken for an acknowledgement, but still hold compaction back."""

from __future__ import annotations

import datetime as dt

from borghive.config import Config
from borghive.service.alerts import check as alerts
from borghive.service.history.deletion_load import holds, load_deletions
from borghive.store.models import AlertState, RepoTransaction
from tests.harness.alerts import Clock, Web
from tests.service.test_alerts_upkeep import hooked


def _store(
    repo: int, segment: int, puts: int, deletes: int, when: dt.datetime, **more: object
) -> None:
    RepoTransaction.create(
        repository=repo,
        segment=segment,
        commit_offset=8,
        first_segment=segment,
        time=when.astimezone(dt.UTC).replace(tzinfo=None),
        puts=puts,
        deletes=deletes,
        bytes_added=0,
        segments_present="0",
        **more,
    )


def _deletions(web: Web) -> list[dict[str, object]]:
    return [b for b in web.bodies("/hook/alice") if str(b["event"]).startswith("deletion")]


def test_a_transaction_joining_the_episode_is_told_at_once(
    alerts_config: Config, clock: Clock, web: Web
) -> None:
    repo = hooked(alerts_config, web, "alice/photos")
    now = clock()
    _store(repo, 1, 100, 0, now - dt.timedelta(days=2), made_by="client")
    _store(repo, 2, 0, 50, now - dt.timedelta(hours=2), made_by="client", key_name="laptop")
    assert {d.event for d in alerts.check_alerts(alerts_config, clock).deliveries} == {"deletion"}
    clock.advance(hours=1)
    assert alerts.check_alerts(alerts_config, clock).deliveries == ()
    _store(repo, 3, 0, 30, clock() - dt.timedelta(minutes=5), made_by="client")
    assert {d.event for d in alerts.check_alerts(alerts_config, clock).deliveries} == {"deletion"}
    latest = _deletions(web)[-1]
    deletion = latest["deletion"]
    assert isinstance(deletion, dict)
    assert [t["transaction"] for t in deletion["transactions"]] == [2, 3]
    assert deletion["rollback_to"] == 1
    [state] = AlertState.select().where(AlertState.kind == "deletion")
    assert state.detail == "transactions 2, 3"


def test_the_history_before_the_window_is_summed_to_the_same_estimate(
    alerts_config: Config, clock: Clock, web: Web
) -> None:
    repo = hooked(alerts_config, web, "alice/photos")
    now = clock()
    old = now - dt.timedelta(days=400)
    for segment in range(1, 41):  # a long history, acknowledged prunes in it
        _store(repo, segment, 10, 1 if segment % 5 == 0 else 0, old, acknowledged=old)
    _store(repo, 41, 500, 400, old, made_by="maintenance")  # compaction: left out
    _store(repo, 42, 0, 40, now - dt.timedelta(hours=1), made_by="client")
    full = load_deletions(alerts_config, [repo], 10)[repo]
    windowed = load_deletions(alerts_config, None, 10, since=now - dt.timedelta(days=5))[repo]
    assert (
        [(d.transaction.segment, d.live) for d in windowed.deletions]
        == [(d.transaction.segment, d.live) for d in full.deletions if d.transaction.segment == 42]
        == [(42, 392)]
    )
    assert windowed.before == 41 and [t.segment for t in windowed.transactions] == [42]
    assert _deletions(web) == []
    alerts.check_alerts(alerts_config, clock)
    [body] = _deletions(web)
    deletion = body["deletion"]
    assert isinstance(deletion, dict) and deletion["rollback_to"] == 41


def test_deletions_past_the_alert_expiration_are_not_told_but_hold_compaction(
    alerts_config: Config, clock: Clock, web: Web
) -> None:
    repo = hooked(alerts_config, web, "alice/photos")
    now = clock()
    _store(repo, 1, 100, 0, now - dt.timedelta(days=9), made_by="client")
    _store(repo, 2, 0, 80, now - dt.timedelta(days=6), made_by="client")  # expiration 5 d
    assert alerts.check_alerts(alerts_config, clock).deliveries == ()
    [hold] = holds(alerts_config, now).values()
    assert hold.transaction == 2 and hold.until is None  # still unacknowledged

    # An episode told, then aged past the expiration: dropped, not called acknowledged.
    _store(repo, 3, 0, 10, now - dt.timedelta(hours=1), made_by="client")
    assert {d.event for d in alerts.check_alerts(alerts_config, clock).deliveries} == {"deletion"}
    clock.advance(days=6)
    assert alerts.check_alerts(alerts_config, clock).deliveries == ()
    assert AlertState.select().where(AlertState.kind == "deletion").count() == 0
    assert [b["event"] for b in _deletions(web)] == ["deletion"]
