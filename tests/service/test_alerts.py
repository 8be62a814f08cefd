"""The alert service on both store back ends, delivering to a real SMTP and HTTP server."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import http.client
import urllib.parse

import pytest

from borghive.config import Config
from borghive.errors import ConflictError, InvalidInputError, NotFoundError
from borghive.rules.channels import Message
from borghive.service.alerts import channels as notify
from borghive.service.alerts import check as alerts
from borghive.service.repositories import lifecycle as repos
from borghive.service.repositories.backends import accounts_backend
from borghive.service.users import people as users
from borghive.store.models import AlertState, Event, NotifyChannel, Repository, Statistic
from tests.harness.alerts import PUSHOVER_TOKEN, WEBHOOK_SECRET, Clock, Mailbox, Web
from tests.harness.net import free_port

DAY = 86400
PUSHOVER_USER = "u" * 15 + "Q" * 15


def naive(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def make_repo(
    config: Config,
    reference: str,
    *,
    created: dt.datetime,
    last_update: dt.datetime | None = None,
    alert_after: int | None = DAY,
    quota: int | None = None,
) -> int:
    owner = reference.partition("/")[0]
    if owner not in {u.name for u in users.list_users()}:
        users.add_user(owner, f"{owner}@example.org")
    repos.create_repository(
        config, accounts_backend(config), reference, alert_after=alert_after, quota=quota
    )
    repo = repos.find_repository(reference)
    Repository.update(
        created=naive(created), last_update=None if last_update is None else naive(last_update)
    ).where(Repository.id == repo.id).execute()
    return int(repo.id)


def measure(repo_id: int, when: dt.datetime, used: int) -> None:
    Statistic.create(repository=repo_id, time=naive(when), bytes_used=used, file_count=1)


def events(kind: str) -> list[str]:
    return [e.detail for e in Event.select().where(Event.kind == kind).order_by(Event.id)]


def check(config: Config, clock: Clock, **options: bool) -> alerts.CheckReport:
    return alerts.check_alerts(config, clock, **options)


# -- stale backups -----------------------------------------------------------------------------


def test_stale_repository_alerts_every_channel_with_what_to_do(
    alerts_config: Config, clock: Clock, mailbox: Mailbox, web: Web
) -> None:
    now = clock()
    repo = make_repo(
        alerts_config,
        "alice/laptop",
        created=now - dt.timedelta(days=30),
        last_update=now - dt.timedelta(days=2, hours=3),
    )
    measure(repo, now - dt.timedelta(days=1), 1_500_000_000)
    notify.add_channel("alice", "email")
    notify.add_channel("alice", "webhook", web.url("/hook?token=abc"))
    notify.add_channel("alice", "pushover", PUSHOVER_USER)

    report = check(alerts_config, clock)

    assert report.firing == 1 and report.failed == 0
    assert sorted(d.channel.split()[0] for d in report.deliveries if d.sent) == [
        "email",
        "pushover",
        "webhook",
    ]
    [(recipients, mail)] = mailbox.messages
    assert recipients == ["alice@example.org"]
    assert mail["From"] == "borghive@backup.example.org"
    assert "alice/laptop" in mail["Subject"]
    text = mail.get_content()
    since = (now - dt.timedelta(days=2, hours=3)).strftime("%Y-%m-%d %H:%M UTC")
    assert f"no backup since {since}" in text
    assert "2d3h ago" in text
    assert "Last size: 1.5G" in text
    assert "What to do:" in text
    assert "ssh://" in text and "/./laptop" in text
    # The webhook: the documented JSON body, signed with the secret from the file.
    [(path, headers, body)] = [r for r in web.requests if r[0].startswith("/hook")]
    expected = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Borghive-Signature"] == f"sha256={expected}"
    assert headers["Content-Type"] == "application/json"
    data = web.bodies(path)[0]
    assert data["event"] == "alert" and data["format"] == 1
    assert data["repository"] == "alice/laptop" and data["owner"] == "alice"
    assert dt.datetime.fromisoformat(data["since"]) == now - dt.timedelta(days=2, hours=3)
    assert data["alert_after"] == DAY and data["bytes_used"] == 1_500_000_000
    assert data["text"] == text
    # Pushover: a form with the token from its file and the owner's user key.
    [(_, _, form)] = [r for r in web.requests if r[0] == "/pushover"]
    fields = dict(urllib.parse.parse_qsl(form.decode()))
    assert fields["token"] == PUSHOVER_TOKEN and fields["user"] == PUSHOVER_USER
    assert "alice/laptop" in fields["title"] and "What to do" in fields["message"]
    # One event per channel; the webhook's token and the Pushover key are not shown.
    details = events("alert")
    assert len(details) == 3
    assert any(d.startswith("email alice@example.org: no backup since") for d in details)
    assert not any("token=abc" in d or PUSHOVER_USER in d for d in details)


def test_never_updated_repository_fires_once_older_than_its_period(
    alerts_config: Config, clock: Clock, mailbox: Mailbox
) -> None:
    now = clock()
    make_repo(alerts_config, "alice/old", created=now - dt.timedelta(days=2))
    make_repo(alerts_config, "alice/new", created=now - dt.timedelta(hours=3))
    make_repo(alerts_config, "alice/quiet", created=now - dt.timedelta(days=9), alert_after=None)
    notify.add_channel("alice", "email")

    report = check(alerts_config, clock)

    assert [d.repository for d in report.deliveries] == ["alice/old"]
    assert "never received a backup" in mailbox.messages[0][1].get_content()
    assert [f.repository for f in alerts.list_firing(alerts_config, clock)] == ["alice/old"]


def test_nothing_is_sent_twice_within_the_interval_nor_after_expiration(
    alerts_config: Config, clock: Clock, mailbox: Mailbox
) -> None:
    start = clock()
    make_repo(
        alerts_config,
        "alice/laptop",
        created=start - dt.timedelta(days=9),
        last_update=start - dt.timedelta(days=2),
    )
    users.set_user("alice", realert_interval=12 * 3600, alert_expiration=5 * DAY)
    notify.add_channel("alice", "email")

    assert len(check(alerts_config, clock).deliveries) == 1
    assert check(alerts_config, clock).deliveries == ()
    clock.advance(hours=11, minutes=59)
    assert check(alerts_config, clock).deliveries == ()
    clock.advance(minutes=1)
    assert [d.event for d in check(alerts_config, clock).deliveries] == ["alert"]  # reminder
    clock.advance(hours=6)
    assert check(alerts_config, clock).deliveries == ()
    # Expiration: five days after the last update, i.e. start + 3d. A reminder just before
    # it still goes out; none after it, though the interval has passed again.
    clock.now = start + dt.timedelta(days=3, minutes=-1)
    assert [d.event for d in check(alerts_config, clock).deliveries] == ["alert"]
    assert "last reminder" not in mailbox.messages[-1][1].get_content()
    clock.now = start + dt.timedelta(days=3, hours=12)
    assert check(alerts_config, clock).deliveries == ()
    clock.advance(days=4)
    assert check(alerts_config, clock).deliveries == ()
    assert len(mailbox.messages) == 3
    assert len(events("alert")) == 3
    state = AlertState.get()
    assert state.sent_count == 3 and state.failures == 0


def test_dry_run_sends_and_records_nothing(
    alerts_config: Config, clock: Clock, mailbox: Mailbox, web: Web
) -> None:
    now = clock()
    make_repo(alerts_config, "alice/laptop", created=now - dt.timedelta(days=3))
    notify.add_channel("alice", "email")
    notify.add_channel("alice", "webhook", web.url("/hook"))

    report = check(alerts_config, clock, dry_run=True)

    assert report.dry_run and len(report.deliveries) == 2
    assert not any(d.sent for d in report.deliveries)
    assert mailbox.messages == [] and web.requests == []
    assert AlertState.select().count() == 0 and Event.select().count() == 0
    assert len(check(alerts_config, clock).deliveries) == 2  # the real run still sends
    assert len(mailbox.messages) == 1


def test_refusing_channels_do_not_stop_the_others_and_are_retried(
    alerts_config: Config, clock: Clock, mailbox: Mailbox, web: Web
) -> None:
    now = clock()
    make_repo(alerts_config, "alice/laptop", created=now - dt.timedelta(days=3))
    closed_port = free_port()
    closed = f"http://127.0.0.1:{closed_port}/hook"
    notify.add_channel("alice", "email")
    notify.add_channel("alice", "webhook", web.url("/fail"))
    notify.add_channel("alice", "webhook", closed)
    notify.add_channel("alice", "webhook", web.url("/slow"))
    notify.add_channel("alice", "pushover", PUSHOVER_USER)
    mailbox.refuse = True
    web.status["/fail"] = 500
    web.delay["/slow"] = 2.0  # longer than webhook_timeout

    report = check(alerts_config, clock)

    errors = sorted(d.error or "" for d in report.deliveries if not d.sent)
    assert len(errors) == 4 and report.failed == 4
    assert any("550" in e for e in errors)
    assert any("HTTP 500" in e for e in errors)
    assert any("connection refused" in e.lower() for e in errors)
    assert any("timed out" in e for e in errors)
    assert [d.channel for d in report.deliveries if d.sent] == [f"pushover {PUSHOVER_USER[:5]}…"]
    assert len(events("alert")) == 1
    assert AlertState.select().where(AlertState.last_sent.is_null()).count() == 4

    # Next run, the channels answer again (except the closed port): each failed one is
    # retried at once, the one that got the alert is not told again.
    mailbox.refuse = False
    web.status["/fail"] = 200
    web.delay["/slow"] = 0.0
    retried = check(alerts_config, clock)

    ours = f"webhook http://127.0.0.1:{web.port}/…"
    assert sorted(d.channel for d in retried.deliveries if d.sent) == sorted(
        ["email alice@example.org", ours, ours]
    )
    assert [d.channel for d in retried.deliveries if not d.sent] == [
        f"webhook http://127.0.0.1:{closed_port}/…"
    ]
    assert len(mailbox.messages) == 1
    assert len([r for r in web.requests if r[0] == "/pushover"]) == 1
    assert len(events("alert")) == 4
    still = AlertState.get(AlertState.last_sent.is_null())
    assert still.failures == 2 and "refused" in (still.last_error or "").lower()


def test_backups_resuming_send_a_recovery_notice_once(
    alerts_config: Config, clock: Clock, mailbox: Mailbox, web: Web
) -> None:
    now = clock()
    repo = make_repo(
        alerts_config,
        "alice/laptop",
        created=now - dt.timedelta(days=9),
        last_update=now - dt.timedelta(days=2),
    )
    notify.add_channel("alice", "email")
    notify.add_channel("alice", "webhook", web.url("/hook"))
    check(alerts_config, clock)
    web.status["/hook"] = 500

    clock.advance(hours=1)
    Repository.update(last_update=naive(clock())).where(Repository.id == repo).execute()
    report = check(alerts_config, clock)

    assert [(d.event, d.sent) for d in report.deliveries] == [
        ("recovered", True),
        ("recovered", False),
    ]
    mail = mailbox.messages[-1][1]
    assert "resumed" in mail["Subject"]
    assert "Nothing to do" in mail.get_content()
    assert len(events("recovered")) == 1
    assert "email alice@example.org: backups resumed" in events("recovered")[0]
    assert check(alerts_config, clock).failed == 1  # the webhook's notice is retried …
    web.status["/hook"] = 200
    assert [d.event for d in check(alerts_config, clock).deliveries] == ["recovered"]
    assert web.bodies("/hook")[-1]["event"] == "recovered"
    assert check(alerts_config, clock).deliveries == ()  # … until it is delivered, once
    assert AlertState.select().count() == 0
    assert alerts.list_firing(alerts_config, clock) == []


def test_quota_warns_at_the_threshold_then_when_full_once_each(
    alerts_config: Config, clock: Clock, mailbox: Mailbox
) -> None:
    now = clock()
    repo = make_repo(
        alerts_config,
        "alice/laptop",
        created=now - dt.timedelta(days=9),
        last_update=now,
        alert_after=None,
        quota=10_000_000_000,
    )
    notify.add_channel("alice", "email")

    def usage(used: int) -> list[str]:
        clock.advance(hours=1)
        measure(repo, clock(), used)
        return [d.event for d in check(alerts_config, clock).deliveries]

    assert usage(8_900_000_000) == []
    assert usage(9_000_000_000) == ["quota"]
    assert "uses 90% of its 10G quota" in mailbox.messages[-1][1]["Subject"]
    assert usage(9_600_000_000) == []
    assert usage(10_000_000_000) == ["quota"]
    assert "is full" in mailbox.messages[-1][1]["Subject"]
    assert "borg prune" in mailbox.messages[-1][1].get_content()
    assert usage(10_200_000_000) == []
    assert usage(9_500_000_000) == []  # still above the warning level: no news
    assert len(mailbox.messages) == 2
    assert len(events("alert")) == 2 and "quota 100% reached" in events("alert")[-1]
    [firing] = alerts.list_firing(alerts_config, clock)
    assert (firing.kind, firing.level, firing.bytes_used) == ("quota", 90, 9_500_000_000)
    # Below the warning level the episode ends; crossing it again warns again.
    assert usage(5_000_000_000) == []
    assert usage(9_100_000_000) == ["quota"]


def test_quota_jumping_straight_to_full_sends_only_the_full_notice(
    alerts_config: Config, clock: Clock, mailbox: Mailbox
) -> None:
    now = clock()
    repo = make_repo(alerts_config, "alice/laptop", created=now, alert_after=None, quota=10_000_000)
    measure(repo, now, 10_000_000)
    notify.add_channel("alice", "email")
    assert [d.event for d in check(alerts_config, clock).deliveries] == ["quota"]
    assert check(alerts_config, clock).deliveries == ()
    assert "is full" in mailbox.messages[0][1]["Subject"]


def test_firing_without_channels_is_listed_and_counted(alerts_config: Config, clock: Clock) -> None:
    now = clock()
    make_repo(alerts_config, "bob/nas", created=now - dt.timedelta(days=2))
    report = check(alerts_config, clock)
    assert (report.firing, report.unnotified, report.deliveries) == (1, 1, ())
    [firing] = alerts.list_firing(alerts_config, clock)
    assert (firing.repository, firing.kind, firing.channels, firing.notified) == (
        "bob/nas",
        "stale",
        0,
        None,
    )
    notify.add_channel("bob", "email")
    check(alerts_config, clock)
    assert alerts.list_firing(alerts_config, clock)[0].notified == clock()


def test_disabled_repository_does_not_alert(alerts_config: Config, clock: Clock) -> None:
    now = clock()
    repo = make_repo(alerts_config, "alice/laptop", created=now - dt.timedelta(days=3))
    Repository.update(mode="disabled").where(Repository.id == repo).execute()
    notify.add_channel("alice", "email")
    assert check(alerts_config, clock).firing == 0


def test_clock_must_be_aware(alerts_config: Config) -> None:
    with pytest.raises(ValueError, match="aware"):
        alerts.check_alerts(alerts_config, lambda: dt.datetime(2026, 1, 1))


# -- test messages and channel management --------------------------------------------------------


def test_send_test_reaches_each_channel_and_reports_failures(
    alerts_config: Config, clock: Clock, mailbox: Mailbox, web: Web
) -> None:
    users.add_user("alice", "alice@example.org")
    notify.add_channel("alice", "email")
    notify.add_channel("alice", "webhook", web.url("/hook"))
    web.status["/hook"] = 503

    deliveries = alerts.send_test(alerts_config, "alice", clock)

    assert [(d.channel.split()[0], d.sent) for d in deliveries] == [
        ("email", True),
        ("webhook", False),
    ]
    assert "HTTP 503" in (deliveries[1].error or "")
    assert "Test message for alice" in mailbox.messages[0][1]["Subject"]
    assert web.bodies("/hook")[0]["event"] == "test"
    assert Event.select().count() == 0


def test_send_test_needs_a_channel(alerts_config: Config, clock: Clock) -> None:
    users.add_user("bob")
    with pytest.raises(NotFoundError, match="no notification channels"):
        alerts.send_test(alerts_config, "bob", clock)


def test_channels_are_validated_unique_and_removable(store: Config) -> None:
    users.add_user("alice", "alice@example.org")
    users.add_user("bob")
    assert notify.add_channel("alice", "email").target == "alice@example.org"
    notify.add_channel("alice", "webhook", "https://hooks.example.org/borg?t=1")
    notify.add_channel("bob", "pushover", PUSHOVER_USER)
    with pytest.raises(ConflictError):
        notify.add_channel("alice", "email", "alice@example.org")
    for kind, target in [
        ("email", "not an address"),
        ("webhook", "ftp://example.org/"),
        ("webhook", "https://exa mple.org/"),
        ("webhook", "file:///etc/passwd"),
        ("pushover", "short"),
        ("sms", "+4912345"),
    ]:
        with pytest.raises(InvalidInputError):
            notify.add_channel("alice", kind, target)
    with pytest.raises(InvalidInputError, match="no e-mail address"):
        notify.add_channel("bob", "email")
    assert [(c.owner, c.kind) for c in notify.list_channels()] == [
        ("alice", "email"),
        ("alice", "webhook"),
        ("bob", "pushover"),
    ]
    notify.remove_channel("alice", "email", "alice@example.org")
    with pytest.raises(NotFoundError):
        notify.remove_channel("alice", "email", "alice@example.org")
    assert [c.kind for c in notify.list_channels("alice")] == ["webhook"]
    with pytest.raises(NotFoundError):
        notify.list_channels("carol")
    with pytest.raises(InvalidInputError, match="needs a target"):
        notify.add_channel("bob", "webhook")
    users.remove_user("bob")  # a user's channels go with the user
    assert [c.owner for c in notify.list_channels()] == ["alice"]


def test_removing_a_channel_or_repository_forgets_its_alert_state(
    alerts_config: Config, clock: Clock
) -> None:
    now = clock()
    make_repo(alerts_config, "alice/laptop", created=now - dt.timedelta(days=3))
    make_repo(alerts_config, "alice/nas", created=now - dt.timedelta(days=3))
    notify.add_channel("alice", "email")
    notify.add_channel("alice", "pushover", PUSHOVER_USER)
    first = check(alerts_config, clock)
    assert len(first.deliveries) == 4 and AlertState.select().count() == 4
    notify.remove_channel("alice", "pushover", PUSHOVER_USER)
    assert AlertState.select().count() == 2
    repos.delete_repository(alerts_config, accounts_backend(alerts_config), "alice/nas")
    assert AlertState.select().count() == 1
    assert check(alerts_config, clock).deliveries == ()


def test_concurrent_checks_on_postgresql_are_refused(
    alerts_config: Config, clock: Clock, backend: str
) -> None:
    if backend == "sqlite":  # one host: cron's flock serialises runs; nothing to lock here
        assert check(alerts_config, clock).failed == 0
        return
    import psycopg2

    from borghive.service.alerts.check import _CHECK_LOCK

    url = alerts_config.store.url
    host, rest = url.split("@", 1)[1].split(":", 1)
    port, dbname = rest.split("/", 1)
    other = psycopg2.connect(host=host, port=int(port), user="postgres", dbname=dbname)
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", (_CHECK_LOCK,))
        with pytest.raises(ConflictError, match="another 'borghive alert check'"):
            check(alerts_config, clock)
        assert check(alerts_config, clock, dry_run=True).dry_run  # a dry run needs no lock
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", (_CHECK_LOCK,))
    finally:
        other.close()
    assert check(alerts_config, clock).failed == 0


# -- one bad channel never stops alerting -----------------------------------------------------


def stored_channel(owner: str, kind: str, target: str) -> None:
    """A channel as an older version stored it, before its target would be refused."""
    NotifyChannel.create(owner=users.find_user(owner), kind=kind, target=target)


def test_a_stored_bad_url_fails_alone_and_the_others_are_sent_and_recorded_once(
    alerts_config: Config,
    clock: Clock,
    mailbox: Mailbox,
    web: Web,
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = clock()
    make_repo(alerts_config, "alice/laptop", created=now - dt.timedelta(days=3))
    notify.add_channel("alice", "webhook", web.url("/first"))
    stored_channel("alice", "webhook", "http://127.0.0.1:abc/")
    stored_channel("alice", "webhook", "http://u:s3cr3t@127.0.0.1:99999/")
    stored_channel("alice", "webhook", "http://127.0.0.1/\nX-Injected: 1")
    notify.add_channel("alice", "webhook", web.url("/last"))
    notify.add_channel("alice", "email")

    reports = [check(alerts_config, clock) for _ in range(3)]

    first = reports[0]
    assert sorted(d.channel for d in first.deliveries if d.sent) == sorted(
        ["email alice@example.org", *[f"webhook http://127.0.0.1:{web.port}/…"] * 2]
    )
    errors = [d.error or "" for d in first.deliveries if not d.sent]
    assert len(errors) == 3 and all("invalid URL" in e for e in errors), errors
    assert sum("port" in e for e in errors) == 2
    # Sent once and recorded once: the later runs send only the failing ones again.
    assert [p for p, _, _ in web.requests] == ["/first", "/last"]
    assert len(mailbox.messages) == 1
    assert len(events("alert")) == 3
    assert [len(r.deliveries) for r in reports[1:]] == [3, 3]
    assert all(not d.sent for r in reports[1:] for d in r.deliveries)
    assert AlertState.select().where(AlertState.failures == 3).count() == 3
    shown = " ".join(d.channel + (d.error or "") for r in reports for d in r.deliveries)
    assert "s3cr3t" not in shown + caplog.text + " ".join(events("alert"))
    assert "Traceback" not in caplog.text


def test_a_bad_pushover_url_fails_only_the_pushover_channels(
    alerts_config: Config, clock: Clock, mailbox: Mailbox, web: Web
) -> None:
    bad = dataclasses.replace(
        alerts_config,
        alerts=dataclasses.replace(alerts_config.alerts, pushover_url="https://x:abc/"),
    )
    now = clock()
    make_repo(bad, "alice/laptop", created=now - dt.timedelta(days=3))
    notify.add_channel("alice", "pushover", PUSHOVER_USER)
    notify.add_channel("alice", "email")
    notify.add_channel("alice", "webhook", web.url("/hook"))

    report = check(bad, clock)

    [failed] = [d for d in report.deliveries if not d.sent]
    assert failed.channel.startswith("pushover") and "port" in (failed.error or "")
    assert len(mailbox.messages) == 1 and len(web.bodies("/hook")) == 1
    assert len(events("alert")) == 2
    assert check(bad, clock).failed == 1 and len(mailbox.messages) == 1


def test_what_was_sent_before_an_interruption_stays_recorded(
    alerts_config: Config, clock: Clock, mailbox: Mailbox, web: Web
) -> None:
    from borghive.delivery.notifier import Notifier

    now = clock()
    make_repo(alerts_config, "alice/laptop", created=now - dt.timedelta(days=3))
    notify.add_channel("alice", "webhook", web.url("/one"))
    notify.add_channel("alice", "webhook", web.url("/two"))
    notify.add_channel("alice", "email")
    real = Notifier(alerts_config.alerts).send
    calls: list[str] = []

    def interrupted(kind: str, target: str, message: Message) -> None:
        calls.append(target)
        if len(calls) == 2:  # SIGINT (or a crash) in the middle of the run
            raise KeyboardInterrupt
        real(kind, target, message)

    with pytest.raises(KeyboardInterrupt):
        alerts.check_alerts(alerts_config, clock, sender=interrupted)

    assert len(web.requests) == 1 and len(events("alert")) == 1
    again = check(alerts_config, clock)
    assert len(again.deliveries) == 2 and again.failed == 0
    assert len(web.requests) + len(mailbox.messages) == 3
    assert sorted(p for p, _, _ in web.requests) == ["/one", "/two"]
    assert len(events("alert")) == 3
    assert check(alerts_config, clock).deliveries == ()


def test_any_exception_of_a_sender_is_that_channels_failure(
    alerts_config: Config, clock: Clock
) -> None:
    now = clock()
    make_repo(alerts_config, "alice/laptop", created=now - dt.timedelta(days=3))
    notify.add_channel("alice", "webhook", "https://a.example.org/")
    notify.add_channel("alice", "webhook", "https://b.example.org/")
    notify.add_channel("alice", "webhook", "https://c.example.org/")
    sent: list[str] = []

    def flaky(kind: str, target: str, message: Message) -> None:
        if "b.example" in target:
            raise http.client.InvalidURL("nonnumeric port: 'abc' in https://u:s3cr3t@b/")
        sent.append(target)

    report = alerts.check_alerts(alerts_config, clock, sender=flaky)

    assert sent == ["https://a.example.org/", "https://c.example.org/"]
    [failed] = [d for d in report.deliveries if not d.sent]
    assert failed.error == "InvalidURL: nonnumeric port: 'abc' in https://***@b/"
    assert len(events("alert")) == 2
    assert AlertState.get(AlertState.last_sent.is_null()).last_error == failed.error


def test_send_test_reports_a_stored_bad_url_and_reaches_the_others(
    alerts_config: Config, clock: Clock, mailbox: Mailbox
) -> None:
    users.add_user("alice", "alice@example.org")
    stored_channel("alice", "webhook", "http://127.0.0.1:99999/")
    notify.add_channel("alice", "email")

    deliveries = alerts.send_test(alerts_config, "alice", clock)

    assert [(d.channel.split()[0], d.sent) for d in deliveries] == [
        ("email", True),
        ("webhook", False),
    ]
    assert "port" in (deliveries[1].error or "")
    assert len(mailbox.messages) == 1


# -- credentials in a webhook URL ---------------------------------------------------------------


def test_webhook_credentials_go_as_basic_auth_and_are_never_shown(
    alerts_config: Config, clock: Clock, web: Web, caplog: pytest.LogCaptureFixture
) -> None:
    now = clock()
    make_repo(alerts_config, "alice/laptop", created=now - dt.timedelta(days=3))
    url = f"http://ntfy%40me:s3cr3t@127.0.0.1:{web.port}/hook?topic=x"
    added = notify.add_channel("alice", "webhook", url)
    listed = f"http://***@127.0.0.1:{web.port}/hook?topic=x"
    assert added.target == listed
    assert [c.target for c in notify.list_channels("alice")] == [listed]
    with pytest.raises(ConflictError) as conflict:
        notify.add_channel("alice", "webhook", url)
    web.status["/hook?topic=x"] = 500

    failed = check(alerts_config, clock)
    web.status["/hook?topic=x"] = 200
    sent = check(alerts_config, clock)

    assert failed.failed == 1 and "HTTP 500" in (failed.deliveries[0].error or "")
    assert sent.failed == 0 and len(sent.deliveries) == 1
    assert [p for p, _, _ in web.requests] == ["/hook?topic=x"] * 2
    headers = web.requests[-1][1]
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"ntfy@me:s3cr3t").decode()
    shown = [str(conflict.value), *events("alert"), caplog.text]
    shown += [d.channel + (d.error or "") for d in (*failed.deliveries, *sent.deliveries)]
    shown += [s.last_error or "" for s in AlertState.select()]
    assert "s3cr3t" not in " ".join(shown)
    # Removed as listed, or as added.
    notify.remove_channel("alice", "webhook", listed)
    assert notify.list_channels("alice") == []
    notify.add_channel("alice", "webhook", url)
    assert notify.remove_channel("alice", "webhook", url).target == listed


def test_a_listed_form_that_fits_two_channels_removes_neither(store: Config) -> None:
    users.add_user("alice")
    notify.add_channel("alice", "webhook", "https://a:one@hooks.example.org/x")
    notify.add_channel("alice", "webhook", "https://b:two@hooks.example.org/x")
    with pytest.raises(ConflictError, match="2 webhook channels"):
        notify.remove_channel("alice", "webhook", "https://***@hooks.example.org/x")
    assert len(notify.list_channels("alice")) == 2
    notify.remove_channel("alice", "webhook", "https://b:two@hooks.example.org/x")
    assert len(notify.list_channels("alice")) == 1


@pytest.mark.parametrize(
    "target",
    [
        "http://host:abc/",
        "http://host:99999/",
        "http://host:0/",
        "http://host:/",
        "https://user:s3cr3t@host:abc/",
        "http://ho st/",
        "http://host/\r\nX: 1",
        "http://[::1/",
        "http://a@b@host/",
        "http://999.1.1.1/",
    ],
)
def test_webhook_urls_are_parsed_whole_where_they_enter(store: Config, target: str) -> None:
    users.add_user("alice")
    with pytest.raises(InvalidInputError) as refused:
        notify.add_channel("alice", "webhook", target)
    assert "s3cr3t" not in str(refused.value) and "\n" not in str(refused.value)
    assert NotifyChannel.select().count() == 0
