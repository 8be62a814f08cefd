"""The deletion alert on real borg repositories, written by a real borg client running as
the repository user, told through a real webhook receiver and SMTP server on both store
back ends: a large delete alerts naming the transaction, a small one through append-only
keys (granted, or borg's own ``append_only = 1`` and its ``transactions`` file) alerts too,
one through a full key does not; ``alert ack`` ends it; compaction waits meanwhile and for
the hold after it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from pathlib import Path

import pytest

from borghive.config import AlertsConfig, Config
from borghive.segments.reader import read_transactions
from borghive.service.alerts import channels as notify
from borghive.service.alerts import check as alerts
from borghive.store import open_store
from borghive.store.models import AlertState, Repository, RepoTransaction
from tests.cli.helpers import assert_refused
from tests.harness.alerts import Clock, Mailbox, Web
from tests.harness.maintenance import MaintenanceSite

pytestmark = pytest.mark.e2e

WEBHOOK_KEYS = {
    "format",
    "event",
    "owner",
    "repository",
    "url",
    "since",
    "last_update",
    "alert_after",
    "bytes_used",
    "quota",
    "percent",
    "subject",
    "text",
    "time",
    "deletion",
}
TRANSACTION_KEYS = {
    "transaction",
    "time",
    "deletes",
    "live",
    "percent",
    "key",
    "source",
    "append_only",
    "reasons",
}


@pytest.fixture
def told(maintenance_site: MaintenanceSite, alerts_settings: AlertsConfig, web: Web) -> Config:
    """The site's configuration with [alerts] aimed at the test servers; alice has a
    webhook and an e-mail channel."""
    config = dataclasses.replace(maintenance_site.config, alerts=alerts_settings)
    with open_store(config.store):
        notify.add_channel("alice", "webhook", web.url("/hook/alice"))
        notify.add_channel("alice", "email")
    return config


def _check(config: Config, clock: Clock) -> alerts.CheckReport:
    with open_store(config.store):
        return alerts.check_alerts(config, clock)


def _deletion_bodies(web: Web) -> list[dict[str, object]]:
    return [b for b in web.bodies("/hook/alice") if str(b["event"]).startswith("deletion")]


def _filled(site: MaintenanceSite, name: str, *, append_only: bool = False) -> tuple[Path, int]:
    """alice/NAME with archive ``big`` (40 small files: about 45 objects) and archive
    ``small`` (one file: 4 objects, so deleting it deletes 3 objects, under 10 %)."""
    _, path, uid = site.add(name, append_only=append_only)
    site.client(uid, "init", "--encryption=repokey", str(path))
    for archive, count in (("big", 40), ("small", 1)):
        source = site.home / f"{archive}-{uid}"
        source.mkdir()
        for number in range(count):
            (source / f"f{number}").write_bytes(os.urandom(3000))
        for entry in (source, *source.iterdir()):
            os.chown(entry, uid, site.config.repos.gid)
        site.client(uid, "create", f"{path}::{archive}", str(source))
    return path, uid


def test_a_large_delete_alerts_is_acknowledged_and_holds_compaction(
    maintenance_site: MaintenanceSite, told: Config, clock: Clock, web: Web, mailbox: Mailbox
) -> None:
    site = maintenance_site
    path, uid = site.initialised("photos")  # its prune settled: acknowledged and old
    assert _check(told, clock).deliveries == ()
    before = read_transactions(path).transactions[-1]
    site.client(uid, "delete", f"{path}::two")
    deleted = read_transactions(path).transactions[-1]
    assert deleted.deletes > 1

    report = _check(told, clock)

    assert {(d.event, d.sent) for d in report.deliveries} == {("deletion", True)}
    [body] = _deletion_bodies(web)
    assert set(body) == WEBHOOK_KEYS and body["repository"] == "alice/photos"
    deletion = body["deletion"]
    assert isinstance(deletion, dict)
    [named] = deletion["transactions"]
    assert set(named) == TRANSACTION_KEYS
    assert named["transaction"] == deleted.segment and named["deletes"] == deleted.deletes
    assert named["percent"] > 10 and named["reasons"] == ["share"]
    assert deletion["rollback_to"] == before.segment and deletion["live_is_estimate"] is True
    assert f"borghive repo rollback alice/photos --to {before.segment}" in str(body["text"])
    assert "borghive repo history alice/photos" in str(body["text"])
    [(_, mail)] = mailbox.messages
    assert "deleted backups" in mail["Subject"]
    assert f"transaction {deleted.segment} at" in mail.get_content()

    # Not again before the owner's re-alert interval (12 h by default); then a reminder.
    clock.advance(hours=11)
    assert _check(told, clock).deliveries == ()
    clock.advance(hours=2)
    assert {d.event for d in _check(told, clock).deliveries} == {"deletion"}
    assert len(_deletion_bodies(web)) == 2

    # Unacknowledged: compaction is refused, maintain skips it, both with the reason.
    refused = assert_refused(
        site.cli.run("repo", "compact", "alice/photos"),
        f"transaction {deleted.segment} at",
        "borghive alert ack alice/photos",
    )
    assert "unacknowledged" in refused
    with open_store(site.config.store):  # compaction long due
        Repository.update(created=dt.datetime(2020, 1, 1)).where(
            Repository.name == "photos"
        ).execute()
    plan = site.cli.json("maintain", "--dry-run")
    [skip] = [s for s in plan["skipped"] if s["action"] == "compact"]
    assert f"transaction {deleted.segment}" in skip["reason"] and "alert ack" in skip["reason"]

    acknowledged = site.cli.json("alert", "ack", "alice/photos")
    assert [t["transaction"] for t in acknowledged["transactions"]] == [deleted.segment]
    report = _check(told, clock)
    assert {d.event for d in report.deliveries} == {"deletion-acknowledged"}
    ended = _deletion_bodies(web)[-1]
    assert ended["event"] == "deletion-acknowledged" and set(ended) == WEBHOOK_KEYS
    assert ended["deletion"] == {"acknowledged": True, "detail": f"transaction {deleted.segment}"}
    with open_store(site.config.store, readonly=True):
        assert AlertState.select().where(AlertState.kind == "deletion").count() == 0
    assert _check(told, clock).deliveries == ()
    nothing = site.cli.ok("alert", "ack", "alice/photos")
    assert "nothing to acknowledge" in nothing.stdout

    # Acknowledged, but within maintenance.delete_hold (14 days): still no compaction.
    assert_refused(
        site.cli.run("repo", "compact", "alice/photos"),
        f"transaction {deleted.segment} at",
        "maintenance.delete_hold",
    )
    with open_store(site.config.store):
        site.age("photos", days=13)
    assert_refused(site.cli.run("repo", "compact", "alice/photos"), "held until")
    with open_store(site.config.store):
        site.age("photos", days=2)
    compacted = site.cli.json("repo", "compact", "alice/photos")
    assert compacted["result"] == "ok"


def test_a_small_delete_through_append_only_keys_alerts(
    maintenance_site: MaintenanceSite, told: Config, clock: Clock, web: Web
) -> None:
    site = maintenance_site
    path, uid = _filled(site, "photos", append_only=True)  # its only key is append-only
    assert _check(told, clock).deliveries == ()
    site.client(uid, "delete", f"{path}::small")
    deleted = read_transactions(path).transactions[-1]

    _check(told, clock)

    [body] = _deletion_bodies(web)
    deletion = body["deletion"]
    assert isinstance(deletion, dict)
    [named] = deletion["transactions"]
    assert named["transaction"] == deleted.segment and named["percent"] < 10
    assert named["reasons"] == ["append-only"] and named["append_only"] is True
    assert "append-only" in str(body["text"])


def test_a_small_delete_through_a_full_key_does_not_alert(
    maintenance_site: MaintenanceSite, told: Config, clock: Clock, web: Web
) -> None:
    site = maintenance_site
    path, uid = _filled(site, "photos")
    site.client(uid, "delete", f"{path}::small")
    deleted = read_transactions(path).transactions[-1]
    assert deleted.deletes > 0

    assert _check(told, clock).deliveries == ()
    assert _deletion_bodies(web) == []
    with open_store(site.config.store, readonly=True):
        stored = RepoTransaction.get(RepoTransaction.segment == deleted.segment)
    assert stored.deletes == deleted.deletes  # read, and judged small
    # Not an alert, but a deletion all the same: compaction waits for the hold.
    assert_refused(
        site.cli.run("repo", "compact", "alice/photos"),
        f"transaction {deleted.segment}",
        "maintenance.delete_hold",
    )


def test_the_transactions_file_of_an_append_only_repository_alerts(
    maintenance_site: MaintenanceSite, told: Config, clock: Clock, web: Web
) -> None:
    site = maintenance_site
    path, uid = _filled(site, "photos")  # a full key, but borg's own append-only mode
    site.client(uid, "config", str(path), "append_only", "1")
    site.client(uid, "delete", f"{path}::small")
    deleted = read_transactions(path).transactions[-1]
    logged = (path / "transactions").read_text()
    assert logged.startswith(f"transaction {deleted.segment}, UTC time ")

    _check(told, clock)

    [body] = _deletion_bodies(web)
    deletion = body["deletion"]
    assert isinstance(deletion, dict)
    [named] = deletion["transactions"]
    assert named["transaction"] == deleted.segment and named["reasons"] == ["append-only"]
