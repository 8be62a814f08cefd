"""The Pushover channel: the message's subject and text to the owner's user key through
``alerts.pushover_url`` with the token from ``alerts.pushover_token_file``."""

from __future__ import annotations

import urllib.parse

from borghive.config import AlertsConfig
from borghive.delivery.common import Secrets
from borghive.delivery.http import post
from borghive.rules.channels import DeliveryError, Message


def send(alerts: AlertsConfig, secrets: Secrets, user_key: str, message: Message) -> None:
    """Push ``message`` to ``user_key``; raise DeliveryError or ConfigError."""
    if alerts.pushover_token_file is None:
        raise DeliveryError("alerts.pushover_token_file is not set")
    token = secrets.get("pushover_token_file", alerts.pushover_token_file)
    form = {
        "token": token,
        "user": user_key,
        "title": message.subject[:250],
        "message": message.text[:1024],
    }
    body = urllib.parse.urlencode(form).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    post(alerts.pushover_url, body, headers, "Pushover", alerts.webhook_timeout)
