"""The e-mail channel: one message through the configured SMTP relay (``smtplib``), in the
clear, with STARTTLS or with implicit TLS, the server verified against the system's trust
store or ``alerts.smtp_ca_file``."""

from __future__ import annotations

import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from borghive.config import AlertsConfig
from borghive.delivery.common import Secrets, reason, text
from borghive.rules.channels import DeliveryError, Message


def sender_address(alerts: AlertsConfig) -> str:
    """``alerts.mail_from``, or borghive@ this host's name."""
    return alerts.mail_from or f"borghive@{socket.getfqdn()}"


def send(alerts: AlertsConfig, secrets: Secrets, address: str, message: Message) -> None:
    """Mail ``message`` to ``address``; raise DeliveryError (or ConfigError for an
    unreadable password file)."""
    mail = EmailMessage()
    sender = sender_address(alerts)
    mail["From"] = sender
    mail["To"] = address
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(message.text)
    password = (
        secrets.get("smtp_password_file", alerts.smtp_password_file)
        if alerts.smtp_password_file is not None
        else None
    )
    where = f"SMTP {alerts.smtp_host}:{alerts.smtp_port}"
    try:
        # A private CA replaces the system's trust store for this server only.
        cafile = None if alerts.smtp_ca_file is None else str(alerts.smtp_ca_file)
        context = ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise DeliveryError(
            f"alerts.smtp_ca_file {alerts.smtp_ca_file}: cannot load: {reason(exc)}"
        ) from None
    try:
        smtp: smtplib.SMTP
        if alerts.smtp_security == "tls":
            smtp = smtplib.SMTP_SSL(
                alerts.smtp_host, alerts.smtp_port, timeout=alerts.smtp_timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(alerts.smtp_host, alerts.smtp_port, timeout=alerts.smtp_timeout)
        with smtp:
            if alerts.smtp_security == "starttls":
                smtp.starttls(context=context)
            if alerts.smtp_user and password is not None:
                smtp.login(alerts.smtp_user, password)
            smtp.send_message(mail, from_addr=sender, to_addrs=[address])
    except smtplib.SMTPRecipientsRefused as exc:
        code, words = next(iter(exc.recipients.values()))
        raise DeliveryError(f"{where} refused {address}: {code} {text(words)}") from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(f"{where}: {exc.smtp_code} {text(exc.smtp_error)}") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"{where}: {reason(exc)}") from None
