"""Alerts from client reports on both store back ends, delivered to a real SMTP and HTTP
server: client-failed with the end of the log, client-timeout, and stale by the last
successful report as well as the last update. Reports are written as ``borghive pings``
writes them, with backdated ``received`` times (no sleeping)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import unicodedata
import urllib.parse

from borghive.config import Config
from borghive.rules.logtail import LIMIT
from borghive.service.alerts import channels as notify
from borghive.service.alerts import check as alerts
from borghive.service.alerts.messages import RepoFacts, stale_message
from borghive.store import execute, is_sqlite
from borghive.store.models import AlertState, ClientReport, Repository
from tests.harness.alerts import WEBHOOK_SECRET, Clock, Mailbox, Web
from tests.service.test_alerts import DAY, PUSHOVER_USER, events, make_repo, naive

HOUR = 3600


def report(
    repo: int,
    kind: str,
    received: dt.datetime,
    *,
    run_id: str | None = None,
    exit_status: int | None = None,
    body: str = "",
    source: str | None = "192.0.2.7",
) -> int:
    row = ClientReport.create(
        repository=repo,
        received=naive(received),
        kind=kind,
        run_id=run_id,
        exit_status=exit_status,
        body=body,
        source=source,
    )
    return int(row.id)


def check(config: Config, clock: Clock) -> alerts.CheckReport:
    return alerts.check_alerts(config, clock)


def with_run_timeout(config: Config, value: str) -> Config:
    return dataclasses.replace(config, pings=dataclasses.replace(config.pings, run_timeout=value))


def _controls(text: str) -> set[str]:
    return {c for c in text if c != "\n" and unicodedata.category(c) in {"Cc", "Cf", "Cs"}}


# -- client-failed -----------------------------------------------------------------------------


def test_a_failure_alerts_with_the_end_of_its_log_then_recovers_at_the_next_success(
    alerts_config: Config, clock: Clock, mailbox: Mailbox, web: Web
) -> None:
    now = clock()
    repo = make_repo(
        alerts_config,
        "alice/laptop",
        created=now - dt.timedelta(days=30),
        last_update=now - dt.timedelta(hours=20),
        alert_after=None,  # the client alert needs no alert period
    )
    report(repo, "success", now - dt.timedelta(days=1))
    report(repo, "start", now - dt.timedelta(hours=2), run_id="r7")
    log = "".join(f"\x1b[32mfile {i}\x1b[0m\n" for i in range(40)) + "Error: Connection closed\n"
    failed_at = now - dt.timedelta(hours=1)
    report(repo, "fail", failed_at, run_id="r7", exit_status=2, body=log)
    notify.add_channel("alice", "email")
    notify.add_channel("alice", "webhook", web.url("/hook"))

    result = check(alerts_config, clock)

    assert sorted((d.event, d.sent) for d in result.deliveries) == [
        ("client-failed", True),
        ("client-failed", True),
    ]
    [(path, headers, body)] = web.requests
    expected = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Borghive-Signature"] == f"sha256={expected}"
    data = web.bodies(path)[0]
    tail = [f"file {i}" for i in range(21, 40)] + ["Error: Connection closed"]
    assert data["event"] == "client-failed" and data["alert"] == "client-failed"
    assert data["format"] == 1 and data["repository"] == "alice/laptop"
    assert data["log"].split("\n") == tail and data["log_shortened"] is True
    assert dt.datetime.fromisoformat(data["since"]) == failed_at
    assert dt.datetime.fromisoformat(data["last_success"]) == now - dt.timedelta(days=1)
    assert data["report"] == {
        "kind": "fail",
        "received": failed_at.isoformat(),
        "run_id": "r7",
        "exit_status": 2,
        "duration": None,
        "source": "192.0.2.7",
    }
    assert data["old"] == [] and data["run_timeout"] is None
    [(_, mail)] = mailbox.messages
    assert mail["Subject"] == "[borghive] Backup job of alice/laptop failed (exit status 2)"
    text = mail.get_content()
    assert "  Error: Connection closed" in text and "  file 21" in text and "file 20\n" not in text
    assert "exit status 2, run r7, from 192.0.2.7" in text
    assert data["text"] == text
    assert any("client reported a failure" in d for d in events("alert"))

    # Not repeated before the owner's re-alert interval (12h), also after a new failure.
    clock.advance(hours=11, minutes=59)
    report(repo, "fail", clock() - dt.timedelta(minutes=5), exit_status=1, body="again")
    assert check(alerts_config, clock).deliveries == ()
    clock.advance(minutes=1)
    assert [d.event for d in check(alerts_config, clock).deliveries] == ["client-failed"] * 2
    assert web.bodies("/hook")[-1]["log"] == "again"  # the reminder quotes the newest
    assert dt.datetime.fromisoformat(web.bodies("/hook")[-1]["since"]) == failed_at

    # The next success ends it: one recovery notice, then nothing.
    clock.advance(hours=1)
    report(repo, "success", clock() - dt.timedelta(minutes=1))
    assert [d.event for d in check(alerts_config, clock).deliveries] == ["recovered"] * 2
    recovered = web.bodies("/hook")[-1]
    assert recovered["event"] == "client-recovered" and recovered["alert"] == "client-failed"
    assert "succeeded again" in mailbox.messages[-1][1]["Subject"]
    assert check(alerts_config, clock).deliveries == ()
    assert AlertState.select().count() == 0
    assert alerts.list_firing(alerts_config, clock) == []


def test_a_success_with_a_nonzero_exit_status_is_a_failure(
    alerts_config: Config, clock: Clock, mailbox: Mailbox
) -> None:
    now = clock()
    repo = make_repo(alerts_config, "alice/nas", created=now - dt.timedelta(days=3))
    Repository.update(alert_after=None).where(Repository.id == repo).execute()
    report(repo, "success", now - dt.timedelta(hours=1), exit_status=3)
    notify.add_channel("alice", "email")

    [firing] = alerts.list_firing(alerts_config, clock)
    assert (firing.kind, firing.since) == ("client-failed", now - dt.timedelta(hours=1))
    assert [d.event for d in check(alerts_config, clock).deliveries] == ["client-failed"]
    assert "(exit status 3)" in mailbox.messages[0][1]["Subject"]


def test_failure_reminders_end_at_the_expiration_counted_from_the_first_failure(
    alerts_config: Config, clock: Clock, mailbox: Mailbox
) -> None:
    start = clock()
    repo = make_repo(alerts_config, "alice/nas", created=start - dt.timedelta(days=9))
    Repository.update(alert_after=None).where(Repository.id == repo).execute()
    report(repo, "fail", start - dt.timedelta(hours=1), exit_status=1)
    notify.add_channel("alice", "email")

    assert len(check(alerts_config, clock).deliveries) == 1
    clock.now = start + dt.timedelta(days=5, hours=-1, minutes=-1)  # just before the end
    assert len(check(alerts_config, clock).deliveries) == 1
    report(repo, "fail", clock(), exit_status=1)  # a new failure does not extend it
    clock.now = start + dt.timedelta(days=5, hours=12)
    assert check(alerts_config, clock).deliveries == ()
    assert [f.kind for f in alerts.list_firing(alerts_config, clock)] == ["client-failed"]
    assert len(mailbox.messages) == 2


# -- client-timeout ----------------------------------------------------------------------------


def test_a_run_that_does_not_end_alerts_after_the_run_timeout_and_recovers_when_it_ends(
    alerts_config: Config, clock: Clock, mailbox: Mailbox, web: Web
) -> None:
    config = with_run_timeout(alerts_config, "1h")
    now = clock()
    repo = make_repo(alerts_config, "alice/laptop", created=now - dt.timedelta(days=3))
    Repository.update(alert_after=None).where(Repository.id == repo).execute()
    report(repo, "success", now - dt.timedelta(days=1))
    started = now - dt.timedelta(minutes=59)
    report(repo, "start", started, run_id="r1")
    notify.add_channel("alice", "webhook", web.url("/hook"))

    assert check(config, clock).deliveries == ()  # 59 minutes: not yet
    clock.advance(minutes=1)
    assert [d.event for d in check(config, clock).deliveries] == ["client-timeout"]
    data = web.bodies("/hook")[-1]
    assert data["event"] == "client-timeout" and data["run_timeout"] == HOUR
    assert data["report"]["run_id"] == "r1" and data["report"]["kind"] == "start"
    assert dt.datetime.fromisoformat(data["since"]) == started
    assert "has not ended after 1h" in data["subject"]
    assert check(config, clock).deliveries == ()
    # An end of another run does not end it; the same run's end does.
    report(repo, "fail", clock(), run_id="other")
    clock.advance(minutes=1)
    assert [d.event for d in check(config, clock).deliveries] == ["client-failed"]
    report(repo, "success", clock(), run_id="r1")
    clock.advance(minutes=1)
    sent = check(config, clock).deliveries
    assert sorted(d.event for d in sent) == ["recovered", "recovered"]
    recovered = {b["alert"] for b in web.bodies("/hook")[-2:]}
    assert recovered == {"client-timeout", "client-failed"}
    assert check(config, clock).deliveries == ()
    assert AlertState.select().count() == 0


def test_a_start_without_run_id_is_ended_by_a_later_run_succeeding(
    alerts_config: Config, clock: Clock, web: Web
) -> None:
    now = clock()
    repo = make_repo(alerts_config, "alice/laptop", created=now - dt.timedelta(days=3))
    Repository.update(alert_after=None).where(Repository.id == repo).execute()
    report(repo, "start", now - dt.timedelta(hours=7))  # pings.run_timeout: 6h by default
    notify.add_channel("alice", "webhook", web.url("/hook"))

    assert [d.event for d in check(alerts_config, clock).deliveries] == ["client-timeout"]
    report(repo, "start", now - dt.timedelta(minutes=30), run_id="next")
    report(repo, "success", now - dt.timedelta(minutes=1), run_id="next")
    assert [d.event for d in check(alerts_config, clock).deliveries] == ["recovered"]
    assert web.bodies("/hook")[-1]["alert"] == "client-timeout"


# -- stale with and without reports ------------------------------------------------------------


def test_stale_by_no_successful_report_says_so_and_recovers_when_both_are_fresh(
    alerts_config: Config, clock: Clock, mailbox: Mailbox, web: Web
) -> None:
    now = clock()
    repo = make_repo(
        alerts_config,
        "alice/laptop",
        created=now - dt.timedelta(days=30),
        last_update=now - dt.timedelta(hours=3),  # archives arrive …
    )
    report(repo, "success", now - dt.timedelta(days=3, hours=1))  # … but no success is told
    report(repo, "log", now - dt.timedelta(hours=2), body="still alive")
    notify.add_channel("alice", "email")
    notify.add_channel("alice", "webhook", web.url("/hook"))

    assert sorted(d.event for d in check(alerts_config, clock).deliveries) == ["alert", "alert"]
    data = web.bodies("/hook")[0]
    assert data["event"] == "alert" and data["alert"] == "stale"
    assert data["old"] == ["last_success"]
    assert dt.datetime.fromisoformat(data["since"]) == now - dt.timedelta(days=3, hours=1)
    text = mailbox.messages[0][1].get_content()
    assert "no successful client report for 3d1h" in text and "no new archive" not in text
    assert "No successful backup report" in mailbox.messages[0][1]["Subject"]
    assert any("no successful client report for 3d1h" in d for d in events("alert"))

    report(repo, "success", clock())
    Repository.update(last_update=naive(clock())).where(Repository.id == repo).execute()
    clock.advance(minutes=5)
    assert [d.event for d in check(alerts_config, clock).deliveries] == ["recovered"] * 2
    recovered = web.bodies("/hook")[-1]
    assert recovered["event"] == "recovered" and recovered["alert"] == "stale"
    assert check(alerts_config, clock).deliveries == ()


def test_stale_by_no_new_archive_while_the_client_reports_success(
    alerts_config: Config, clock: Clock, mailbox: Mailbox, web: Web
) -> None:
    now = clock()
    repo = make_repo(
        alerts_config,
        "alice/laptop",
        created=now - dt.timedelta(days=30),
        last_update=now - dt.timedelta(days=3),
    )
    report(repo, "success", now - dt.timedelta(hours=1))
    notify.add_channel("alice", "email")
    notify.add_channel("alice", "webhook", web.url("/hook"))

    check(alerts_config, clock)

    data = web.bodies("/hook")[0]
    assert data["old"] == ["last_update"] and data["alert"] == "stale"
    text = mailbox.messages[0][1].get_content()
    assert "no new archive for 3d" in text and "no successful client report" not in text
    # Only the archive is fresh again: still stale, nothing new to say (same episode).
    clock.advance(hours=1)
    assert check(alerts_config, clock).deliveries == ()
    Repository.update(last_update=naive(clock())).where(Repository.id == repo).execute()
    assert [d.event for d in check(alerts_config, clock).deliveries] == ["recovered"] * 2


def test_both_old_names_both(alerts_config: Config, clock: Clock, web: Web) -> None:
    now = clock()
    repo = make_repo(
        alerts_config,
        "alice/laptop",
        created=now - dt.timedelta(days=30),
        last_update=now - dt.timedelta(days=4),
    )
    report(repo, "success", now - dt.timedelta(days=2))
    notify.add_channel("alice", "webhook", web.url("/hook"))

    check(alerts_config, clock)

    [data] = web.bodies("/hook")
    assert data["old"] == ["last_update", "last_success"]
    assert dt.datetime.fromisoformat(data["since"]) == now - dt.timedelta(days=4)
    assert "no new archive for 4d" in data["text"]
    assert "no successful client report for 2d" in data["text"]


def test_repositories_without_reports_alert_exactly_as_before(
    alerts_config: Config, clock: Clock, mailbox: Mailbox, web: Web
) -> None:
    now = clock()
    plain = make_repo(
        alerts_config,
        "alice/plain",
        created=now - dt.timedelta(days=30),
        last_update=now - dt.timedelta(days=2),
    )
    reporting = make_repo(
        alerts_config,
        "alice/reporting",
        created=now - dt.timedelta(days=30),
        last_update=now - dt.timedelta(hours=1),
    )
    report(reporting, "success", now - dt.timedelta(hours=1))  # fresh: no alert
    notify.add_channel("alice", "webhook", web.url("/hook"))

    result = check(alerts_config, clock)

    assert [(d.repository, d.event) for d in result.deliveries] == [("alice/plain", "alert")]
    [data] = web.bodies("/hook")
    repo = Repository.get_by_id(plain)
    facts = RepoFacts(
        owner="alice",
        name="plain",
        url=data["url"],
        created=now - dt.timedelta(days=30),
        last_update=now - dt.timedelta(days=2),
        alert_after=DAY,
        quota=None,
        bytes_used=None,
        measured=None,
    )
    expected = stale_message(facts, now, 12 * HOUR, now + dt.timedelta(days=3))
    assert data == dict(expected.data)  # the body of before: no key added
    assert "alert" not in data and "old" not in data
    assert repo.last_update is not None
    Repository.update(last_update=naive(now)).where(Repository.id == plain).execute()
    assert [d.event for d in check(alerts_config, clock).deliveries] == ["recovered"]
    assert web.bodies("/hook")[-1]["event"] == "recovered"
    assert "alert" not in web.bodies("/hook")[-1]


# -- hostile logs ------------------------------------------------------------------------------


def test_hostile_logs_give_bounded_clean_excerpts_in_every_channel(
    alerts_config: Config, clock: Clock, mailbox: Mailbox, web: Web
) -> None:
    now = clock()
    repo = make_repo(alerts_config, "alice/laptop", created=now - dt.timedelta(days=3))
    Repository.update(alert_after=None).where(Repository.id == repo).execute()
    nul = "\x00" if is_sqlite() else ""  # PostgreSQL refuses NUL in text
    hostile = (
        "x" * 1_000_000
        + "\n\x1b]0;owned\x07\x1b[2J\x1b[31mred\x1b[0m bell\x07 back\x08 c1\x9b2J"
        + f"{nul} bidi\u202eevil\u202c\r\n"
        + "progress 10%\rprogress 100%\n"
        + "Error: \ufffd\ufffd invalid bytes\n"
    )
    report_id = report(repo, "fail", now - dt.timedelta(minutes=10), exit_status=2, body=hostile)
    if is_sqlite():  # an SQLite TEXT value may hold bytes that are not UTF-8 at all
        execute(
            "UPDATE client_report SET body = CAST(? AS TEXT) WHERE id = ?",
            (hostile.encode() + b"raw \xff\xfe\xc3( bytes\n", report_id),
        )
    notify.add_channel("alice", "email")
    notify.add_channel("alice", "webhook", web.url("/hook"))
    notify.add_channel("alice", "pushover", PUSHOVER_USER)

    result = check(alerts_config, clock)

    assert result.failed == 0 and len(result.deliveries) == 3
    data = web.bodies("/hook")[0]
    log = data["log"]
    assert len(log.encode()) <= LIMIT and data["log_shortened"] is True
    assert "xxxx" not in log and "owned" not in log
    assert "red bell back c1" in log and "bidievil" in log and "progress 100%" in log
    assert "Error: \ufffd\ufffd invalid bytes" in log
    if is_sqlite():
        assert log.endswith("raw \ufffd\ufffd\ufffd( bytes")
    text = mailbox.messages[0][1].get_content()
    [(_, _, form)] = [r for r in web.requests if r[0] == "/pushover"]
    pushed = dict(urllib.parse.parse_qsl(form.decode()))["message"]
    for words in (log, data["text"], text, pushed):
        assert _controls(words) == set() and "\x1b" not in words and "\r" not in words
    assert len(text) < 4000 and len(data["text"]) < 4000 and len(pushed) <= 1024
    assert "progress 100%" in text
