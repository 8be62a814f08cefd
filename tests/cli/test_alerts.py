"""``borghive alert`` and ``borghive user notify`` through Typer's CliRunner, on both back
ends, delivering to the real test SMTP and HTTP servers (the commands use the real clock)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from borghive.config import AlertsConfig, Config
from borghive.service.repositories import lifecycle as repos
from borghive.service.repositories.backends import accounts_backend
from borghive.service.users import people as users
from borghive.store import open_store
from borghive.store.models import Event, NotifyChannel, Repository, User
from tests.harness.alerts import Mailbox, Web
from tests.harness.cli import Cli
from tests.harness.config import config_toml

PUSHOVER_USER = "p" * 30


@pytest.fixture
def cli(migrated: Config, alerts_settings: AlertsConfig, tmp_path: Path) -> Cli:
    """``borghive --config FILE`` with ``[alerts]`` aimed at the test servers; alice owns
    alice/laptop (alert after 1d, last update 2 days ago)."""
    a = alerts_settings
    path = tmp_path / "borghive.toml"
    path.write_text(
        config_toml(migrated)
        + "[alerts]\n"
        + f'smtp_host = "{a.smtp_host}"\nsmtp_port = {a.smtp_port}\nsmtp_security = "none"\n'
        + f'mail_from = "{a.mail_from}"\npushover_url = "{a.pushover_url}"\n'
        + f'pushover_token_file = "{a.pushover_token_file}"\nwebhook_timeout = 1.0\n'
        + f'webhook_secret_file = "{a.webhook_secret_file}"\n'
    )
    with open_store(migrated.store):
        users.add_user("alice", "alice@example.org")
        repos.create_repository(
            migrated, accounts_backend(migrated), "alice/laptop", alert_after=86400
        )
        two_days_ago = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=2)
        Repository.update(last_update=two_days_ago).execute()
    return Cli(config_file=path, config=migrated, runner=CliRunner())


def test_notify_add_list_remove(cli: Cli, web: Web) -> None:
    cli.ok("user", "notify", "add", "alice", "email")
    assert (
        "added webhook channel"
        in cli.ok("user", "notify", "add", "alice", "webhook", web.url("/hook")).stdout
    )
    cli.ok("user", "notify", "add", "alice", "pushover", PUSHOVER_USER)
    listed = cli.json("user", "notify", "list", "alice")
    assert [(c["kind"], c["target"]) for c in listed] == [
        ("email", "alice@example.org"),
        ("pushover", PUSHOVER_USER),
        ("webhook", web.url("/hook")),
    ]
    assert "alice@example.org" in cli.ok("user", "notify", "list").stdout
    cli.ok("user", "notify", "remove", "alice", "pushover", PUSHOVER_USER)
    assert len(cli.json("user", "notify", "list")) == 2


def test_notify_refusals(cli: Cli) -> None:
    for args, fragment, code in [
        (("add", "alice", "webhook", "ftp://x/"), "invalid webhook URL", 1),
        (("add", "nobody", "email", "a@example.org"), "not found", 1),
        (("remove", "alice", "email", "alice@example.org"), "no email channel", 1),
    ]:
        result = cli.run("user", "notify", *args)
        assert result.exit_code == code, result.stderr
        assert result.stderr.startswith("borghive: error: ")
        assert fragment in result.stderr
        assert "Traceback" not in result.stderr


def test_alert_check_dry_run_then_real_then_quiet(cli: Cli, mailbox: Mailbox) -> None:
    cli.ok("user", "notify", "add", "alice", "email")

    dry = cli.ok("alert", "check", "--dry-run").stdout
    assert "would send alert for alice/laptop to email alice@example.org" in dry
    assert mailbox.messages == []

    sent = cli.ok("alert", "check").stdout
    assert "sent alert for alice/laptop to email alice@example.org" in sent
    assert "1 alert firing, 1 message sent, 0 failed" in sent
    assert len(mailbox.messages) == 1

    again = cli.json("alert", "check")
    assert again["deliveries"] == [] and again["firing"] == 1
    assert len(mailbox.messages) == 1
    with open_store(cli_config(cli).store, readonly=True):
        assert Event.select().where(Event.kind == "alert").count() == 1


def cli_config(cli: Cli) -> Config:
    from borghive.config_load import load_config

    return load_config(cli.config_file, {})


def test_alert_check_exits_1_and_warns_when_a_channel_fails(
    cli: Cli, mailbox: Mailbox, web: Web
) -> None:
    cli.ok("user", "notify", "add", "alice", "email")
    cli.ok("user", "notify", "add", "alice", "webhook", web.url("/hook"))
    web.status["/hook"] = 500

    result = cli.run("alert", "check")

    assert result.exit_code == 1
    assert "borghive: warning: alert for alice/laptop through webhook" in result.stderr
    assert "HTTP 500" in result.stderr
    assert "1 message sent, 1 failed" in result.stdout
    assert len(mailbox.messages) == 1
    web.status["/hook"] = 200
    assert "sent alert for alice/laptop to webhook" in cli.ok("alert", "check").stdout
    assert len(mailbox.messages) == 1


def test_alert_list(cli: Cli) -> None:
    listed = cli.json("alert", "list")
    assert [(f["repository"], f["kind"], f["channels"], f["notified"]) for f in listed] == [
        ("alice/laptop", "stale", 0, None)
    ]
    table = cli.ok("alert", "list").stdout
    assert "alice/laptop" in table and "no backup since" in table


def test_alert_test(cli: Cli, mailbox: Mailbox) -> None:
    result = cli.run("alert", "test", "alice")
    assert result.exit_code == 1 and "no notification channels" in result.stderr
    cli.ok("user", "notify", "add", "alice", "email")
    assert "sent test message to email alice@example.org" in cli.ok("alert", "test", "alice").stdout
    assert "Test message for alice" in mailbox.messages[0][1]["Subject"]
    mailbox.refuse = True
    refused = cli.run("alert", "test", "alice")
    assert refused.exit_code == 1
    assert "borghive: warning: email alice@example.org: SMTP 127.0.0.1" in refused.stderr
    assert "550" in refused.stderr


# -- one bad channel never stops alerting -----------------------------------------------------


@pytest.mark.parametrize(
    "url", ["http://host:abc/", "http://host:99999/", "http://u:s3cr3t@host:abc/", "http://h st/"]
)
def test_notify_add_refuses_a_url_that_would_fail_later(cli: Cli, url: str) -> None:
    result = cli.run("user", "notify", "add", "alice", "webhook", url)
    assert result.exit_code == 1
    line = result.stderr.splitlines()[0]
    assert line.startswith("borghive: error: invalid webhook URL ")
    assert "s3cr3t" not in result.stderr and "Traceback" not in result.stderr
    assert cli.json("user", "notify", "list") == []


def test_alert_check_with_a_stored_bad_url_sends_and_records_the_others_once(
    cli: Cli, mailbox: Mailbox, web: Web
) -> None:
    cli.ok("user", "notify", "add", "alice", "webhook", web.url("/before"))
    with open_store(cli_config(cli).store):
        NotifyChannel.create(
            owner=User.get(User.name == "alice"), kind="webhook", target="http://host:abc/"
        )
    cli.ok("user", "notify", "add", "alice", "email")
    cli.ok("user", "notify", "add", "alice", "webhook", web.url("/zafter"))

    runs = [cli.run("alert", "check") for _ in range(3)]

    for result in runs:
        assert result.exit_code == 1 and "Traceback" not in result.stderr
        assert "through webhook 'http://host:abc/' (not a valid URL) failed" in result.stderr
    assert "3 messages sent, 1 failed" in runs[0].stdout
    assert "0 messages sent, 1 failed" in runs[2].stdout
    assert sorted(p for p, _, _ in web.requests) == ["/before", "/zafter"]
    assert len(mailbox.messages) == 1
    with open_store(cli_config(cli).store, readonly=True):
        assert Event.select().where(Event.kind == "alert").count() == 3
    listed = cli.ok("user", "notify", "list", "alice").stdout
    assert "http://host:abc/" in listed
    cli.ok("user", "notify", "remove", "alice", "webhook", "http://host:abc/")


def test_webhook_credentials_are_never_printed(cli: Cli, web: Web) -> None:
    url = f"http://bot:s3cr3t@127.0.0.1:{web.port}/hook"
    added = cli.ok("user", "notify", "add", "alice", "webhook", url)
    listed = f"http://***@127.0.0.1:{web.port}/hook"
    assert listed in added.stdout
    assert [c["target"] for c in cli.json("user", "notify", "list", "alice")] == [listed]
    web.status["/hook"] = 500
    outputs = [
        added,
        cli.run("user", "notify", "list"),
        cli.run("user", "notify", "add", "alice", "webhook", url),  # already there
        cli.run("alert", "check"),
        cli.run("alert", "test", "alice"),
        cli.run("alert", "check", "--json"),
    ]
    web.status["/hook"] = 200
    outputs.append(cli.run("alert", "check"))
    outputs.append(cli.run("user", "notify", "remove", "alice", "webhook", listed))
    assert len(web.requests) == 4
    assert all("s3cr3t" not in r.stdout + r.stderr for r in outputs)
    assert "removed webhook channel " + listed in outputs[-1].stdout
    with open_store(cli_config(cli).store, readonly=True):
        assert not any("s3cr3t" in e.detail for e in Event.select())


def test_config_check_refuses_a_pushover_url_with_a_bad_port(cli: Cli) -> None:
    text = cli.config_file.read_text()
    cli.config_file.write_text(
        text.replace(f'pushover_url = "{cli_config(cli).alerts.pushover_url}"', "").replace(
            "[alerts]\n", '[alerts]\npushover_url = "https://x:abc/"\n'
        )
    )
    result = cli.run("config", "check")
    assert result.exit_code == 78 and "Traceback" not in result.stderr
    assert "alerts.pushover_url: the port is not a number from 1 to 65535" in result.stderr
    assert cli.run("alert", "check").exit_code == 78


def test_alert_list_names_client_alerts(cli: Cli) -> None:
    from borghive.store.models import ClientReport

    with open_store(cli.config.store):
        repo = Repository.get()
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        Repository.update(last_update=now).execute()
        ClientReport.create(repository=repo, received=now - dt.timedelta(hours=8), kind="start")
        ClientReport.create(repository=repo, received=now, kind="fail", exit_status=2)
        ClientReport.create(repository=repo, received=now, kind="start", run_id="r2")
    listed = cli.json("alert", "list")
    # The start without run id ended with the failure; stale counts from the first report.
    assert [f["kind"] for f in listed] == ["client-failed"]
    table = cli.ok("alert", "list").stdout
    assert "client reports failures since" in table
    with open_store(cli.config.store):
        ClientReport.update(received=now - dt.timedelta(hours=7)).where(
            ClientReport.run_id == "r2"
        ).execute()
    assert "client-timeout" in {f["kind"] for f in cli.json("alert", "list")}
    assert "has not ended" in cli.ok("alert", "list").stdout
