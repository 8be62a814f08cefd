"""The ``[alerts]`` configuration section: defaults, types and refusals, all at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from borghive.config import AlertsConfig
from borghive.config_load import load_config
from borghive.errors import ConfigError


def test_defaults_and_a_full_section(tmp_path: Path) -> None:
    path = tmp_path / "borghive.toml"
    path.write_text("")
    assert load_config(path, {}).alerts == AlertsConfig()
    path.write_text(
        "[alerts]\n"
        'smtp_host = "mail.example.org"\nsmtp_port = 465\nsmtp_security = "tls"\n'
        'smtp_user = "borghive"\nsmtp_password_file = "/etc/borghive/smtp-password"\n'
        'mail_from = "backup@example.org"\nwebhook_timeout = 3\nquota_warn_percent = 80\n'
    )
    alerts = load_config(path, {"BORGHIVE_ALERTS_SMTP_PORT": "587"}).alerts
    assert (alerts.smtp_host, alerts.smtp_port, alerts.smtp_security) == (
        "mail.example.org",
        587,
        "tls",
    )
    assert alerts.smtp_password_file == Path("/etc/borghive/smtp-password")
    assert (alerts.webhook_timeout, alerts.quota_warn_percent) == (3.0, 80)


def test_every_problem_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "borghive.toml"
    path.write_text(
        "[alerts]\n"
        'smtp_host = "mail.example.org"\nsmtp_port = 0\nsmtp_security = "ssl"\n'
        'smtp_user = "borghive"\nmail_from = "nobody"\npushover_url = "ftp://x"\n'
        'webhook_timeout = 0\nquota_warn_percent = 100\nsmtp_password = "x"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    message = caught.value.message
    for fragment in [
        "alerts.smtp_password: unknown key",
        "alerts.smtp_security: expected one of 'starttls', 'tls', 'none'",
        "alerts.smtp_port: must be between 1 and 65535",
        "alerts: timeouts must be positive and finite",
        "alerts.pushover_url: expected http:// or https://",
        "alerts.mail_from: expected one plain e-mail address",
        "alerts.smtp_user, smtp_password_file: set both or neither",
        "alerts.quota_warn_percent: must be between 1 and 99",
    ]:
        assert fragment in message, fragment


def test_a_password_is_never_sent_unencrypted_to_another_host(tmp_path: Path) -> None:
    path = tmp_path / "borghive.toml"
    path.write_text(
        '[alerts]\nsmtp_host = "mail.example.org"\nsmtp_user = "borghive"\n'
        'smtp_password_file = "/etc/borghive/smtp-password"\n'
    )
    with pytest.raises(ConfigError, match='"none" would send the SMTP password unencrypted'):
        load_config(path, {})
    local = path.read_text().replace("mail.example.org", "localhost")
    path.write_text(local)
    assert load_config(path, {}).alerts.smtp_host == "localhost"
