"""Delivering a notification: SMTP (``smtplib``, STARTTLS or implicit TLS), a signed
webhook and Pushover (``urllib``). Apart from :mod:`borghive.service.alerts.channels` because these
modules cost every command about 45 ms to import; only ``alert check``/``alert test`` send.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from borghive import __version__
from borghive.config import AlertsConfig
from borghive.errors import ConfigError
from borghive.login.configfiles import read_secret
from borghive.service.alerts.channels import SIGNATURE_HEADER, DeliveryError, Message


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect would turn the POST into a GET without body: report it instead."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Notifier:
    """Delivers messages with the ``[alerts]`` settings; :meth:`send` is a :data:`Sender`."""

    def __init__(self, alerts: AlertsConfig) -> None:
        self.alerts = alerts
        self._secrets: dict[str, str] = {}
        self._opener = urllib.request.build_opener(_NoRedirect)

    def send(self, kind: str, target: str, message: Message) -> None:
        """Deliver ``message`` through one channel; raise DeliveryError."""
        try:
            if kind == "email":
                self._email(target, message)
            elif kind == "webhook":
                self._webhook(target, message)
            elif kind == "pushover":
                self._pushover(target, message)
            else:
                raise DeliveryError(f"unknown channel kind {kind!r}")
        except ConfigError as exc:  # an unreadable secret file fails the channel, not the run
            raise DeliveryError(exc.message) from None

    def _secret(self, key: str, path: Any) -> str:
        if key not in self._secrets:
            self._secrets[key] = read_secret(path, f"alerts.{key}")
        return self._secrets[key]

    def _sender_address(self) -> str:
        return self.alerts.mail_from or f"borghive@{socket.getfqdn()}"

    def _email(self, address: str, message: Message) -> None:
        alerts = self.alerts
        mail = EmailMessage()
        sender = self._sender_address()
        mail["From"] = sender
        mail["To"] = address
        mail["Subject"] = message.subject
        mail["Date"] = formatdate(usegmt=True)
        mail["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
        mail["Auto-Submitted"] = "auto-generated"
        mail.set_content(message.text)
        password = (
            self._secret("smtp_password_file", alerts.smtp_password_file)
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
                f"alerts.smtp_ca_file {alerts.smtp_ca_file}: cannot load: {_reason(exc)}"
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
            code, text = next(iter(exc.recipients.values()))
            raise DeliveryError(f"{where} refused {address}: {code} {_text(text)}") from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"{where}: {exc.smtp_code} {_text(exc.smtp_error)}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"{where}: {_reason(exc)}") from None

    def _webhook(self, url: str, message: Message) -> None:
        body = json.dumps(message.data, sort_keys=True).encode()
        headers = {"Content-Type": "application/json"}
        if self.alerts.webhook_secret_file is not None:
            secret = self._secret("webhook_secret_file", self.alerts.webhook_secret_file)
            headers[SIGNATURE_HEADER] = "sha256=" + sign(secret, body)
        self._post(url, body, headers, "webhook")

    def _pushover(self, user_key: str, message: Message) -> None:
        if self.alerts.pushover_token_file is None:
            raise DeliveryError("alerts.pushover_token_file is not set")
        token = self._secret("pushover_token_file", self.alerts.pushover_token_file)
        form = {
            "token": token,
            "user": user_key,
            "title": message.subject[:250],
            "message": message.text[:1024],
        }
        body = urllib.parse.urlencode(form).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        self._post(self.alerts.pushover_url, body, headers, "Pushover")

    def _post(self, url: str, body: bytes, headers: dict[str, str], what: str) -> None:
        if not url.startswith(("http://", "https://")):  # checked on input; never file:// etc.
            raise DeliveryError(f"{what}: not an http(s) URL")
        headers = {**headers, "User-Agent": f"borghive/{__version__}"}
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
        host = urllib.parse.urlsplit(url).netloc.rpartition("@")[2]
        try:
            with self._opener.open(request, timeout=self.alerts.webhook_timeout) as response:
                response.read(65536)
        except urllib.error.HTTPError as exc:
            detail = _text(exc.read(300)) if exc.fp is not None else ""
            raise DeliveryError(
                f"{what} {host}: HTTP {exc.code} {exc.reason}" + (f": {detail}" if detail else "")
            ) from None
        except urllib.error.URLError as exc:
            raise DeliveryError(f"{what} {host}: {_reason(exc.reason)}") from None
        except (OSError, ValueError) as exc:  # timeouts while reading, bad responses
            raise DeliveryError(f"{what} {host}: {_reason(exc)}") from None


def sign(secret: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of a webhook body, as sent in ``X-Borghive-Signature``."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _text(value: bytes | str | Any) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return " ".join(text.split())[:200]


def _reason(exc: BaseException | str | Any) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return _text(exc) or type(exc).__name__
