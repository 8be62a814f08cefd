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
from borghive.store.models import Event, Repository
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
    from borghive.config import load_config

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
