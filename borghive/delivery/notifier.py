"""Delivering a notification through one channel, dispatched by kind to the module of that
kind (:mod:`.mail`, :mod:`.webhook`, :mod:`.pushover`; each has the same ``send``).
Imported only when something is sent: smtplib, ssl and urllib cost every other command
about 45 ms."""

from __future__ import annotations

import logging
from collections.abc import Callable

from borghive.config import AlertsConfig
from borghive.delivery import mail, pushover, webhook
from borghive.delivery.common import Secrets, reason
from borghive.errors import ConfigError
from borghive.rules.channels import DeliveryError, Message, describe_channel

log = logging.getLogger(__name__)

ChannelSend = Callable[[AlertsConfig, Secrets, str, Message], None]
CHANNELS: dict[str, ChannelSend] = {
    "email": mail.send,
    "webhook": webhook.send,
    "pushover": pushover.send,
}


class Notifier:
    """Delivers messages with the ``[alerts]`` settings; :meth:`send` is a ``Sender``."""

    def __init__(self, alerts: AlertsConfig) -> None:
        self.alerts = alerts
        self._secrets = Secrets()

    def send(self, kind: str, target: str, message: Message) -> None:
        """Deliver ``message`` through one channel; raise DeliveryError, whatever went
        wrong inside (the traceback is logged at debug level)."""
        channel = CHANNELS.get(kind)
        if channel is None:
            raise DeliveryError(f"unknown channel kind {kind[:30]!a}")
        try:
            channel(self.alerts, self._secrets, target, message)
        except DeliveryError:
            raise
        except ConfigError as exc:  # an unreadable secret file fails the channel, not the run
            raise DeliveryError(exc.message) from None
        except Exception as exc:  # one channel's fault must not end the run
            log.debug("%s failed unexpectedly", describe_channel(kind, target), exc_info=True)
            raise DeliveryError(f"{type(exc).__name__}: {reason(exc)}") from None
