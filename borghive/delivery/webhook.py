"""The webhook channel: the message's JSON body POSTed to the owner's URL, signed with
HMAC-SHA256 in ``X-Borghive-Signature`` when ``alerts.webhook_secret_file`` is set."""

from __future__ import annotations

import hashlib
import hmac
import json

from borghive.config import AlertsConfig
from borghive.delivery.common import Secrets
from borghive.delivery.http import post
from borghive.rules.channels import SIGNATURE_HEADER, Message


def sign(secret: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of a webhook body, as sent in ``X-Borghive-Signature``."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send(alerts: AlertsConfig, secrets: Secrets, url: str, message: Message) -> None:
    """POST ``message.data`` as JSON to ``url``; raise DeliveryError or ConfigError."""
    body = json.dumps(message.data, sort_keys=True).encode()
    headers = {"Content-Type": "application/json"}
    if alerts.webhook_secret_file is not None:
        secret = secrets.get("webhook_secret_file", alerts.webhook_secret_file)
        headers[SIGNATURE_HEADER] = "sha256=" + sign(secret, body)
    post(url, body, headers, "webhook", alerts.webhook_timeout)
