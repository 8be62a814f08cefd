"""``borghive alert list`` and ``alert check`` with the maintenance kinds, through Typer's
CliRunner on both back ends (the rows as ``repo check`` and the watch daemon write them)."""

from __future__ import annotations

import datetime as dt

from borghive.service.alerts import channels as notify
from borghive.store import open_store
from borghive.store.models import BorgSession, Repository
from tests.cli.test_alerts import cli  # noqa: F401  (the fixture)
from tests.harness.alerts import Web
from tests.harness.cli import Cli


def _rows(runner: Cli, web: Web) -> None:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with open_store(runner.config.store):
        notify.add_channel("alice", "webhook", web.url("/hook"))
        Repository.update(
            last_update=now,  # not stale
            last_check=now - dt.timedelta(hours=1),
            last_check_ok=False,
            last_check_detail="segment 9: missing",
        ).execute()
        repo = Repository.get()
        BorgSession.create(
            repository=repo,
            key_name="alice-laptop",
            source="192.0.2.4",
            host="storage-9",
            pid=777,
            program="borg",
            started=now - dt.timedelta(hours=8),
            lock_since=now - dt.timedelta(hours=7),
        )


def test_alert_list_shows_failed_checks_and_stuck_locks(cli: Cli, web: Web) -> None:  # noqa: F811
    _rows(cli, web)
    listed = {item["kind"]: item for item in cli.json("alert", "list")}
    assert set(listed) == {"check-failed", "lock-stuck"}
    assert listed["check-failed"]["detail"] == "segment 9: missing"
    assert "pid 777" in listed["lock-stuck"]["detail"]
    assert "key alice-laptop" in listed["lock-stuck"]["detail"]
    text = cli.ok("alert", "list").stdout
    assert "check failed at" in text and "segment 9: missing" in text
    assert "locked since" in text and "pid 777" in text


def test_alert_check_sends_both_once(cli: Cli, web: Web) -> None:  # noqa: F811
    _rows(cli, web)
    report = cli.json("alert", "check")
    assert sorted(d["event"] for d in report["deliveries"]) == ["check-failed", "lock-stuck"]
    assert sorted(b["event"] for b in web.bodies("/hook")) == ["check-failed", "lock-stuck"]
    assert cli.json("alert", "check")["deliveries"] == []
    assert "2 alerts firing, 0 messages sent" in cli.ok("alert", "check").stdout
