"""What every channel kind shares: the secrets read once per run from their files, and a
failure turned into one short line for people (never a secret, never a traceback)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from borghive.login.configfiles import read_secret
from borghive.rules.urls import scrub


class Secrets:
    """Secret files read on first use and kept for the run (one ``alert check``)."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}

    def get(self, key: str, path: Path | str) -> str:
        """The secret of ``alerts.<key>`` from ``path``; raises ConfigError."""
        if key not in self._values:
            self._values[key] = read_secret(path, f"alerts.{key}")
        return self._values[key]


def text(value: bytes | str | Any) -> str:
    """A server's or library's words on one line, at most 200 characters, any URL's user
    name and password in them replaced by ``***``."""
    words = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return scrub(" ".join(words.split()))[:200]


def reason(exc: BaseException | str | Any) -> str:
    """Why a delivery failed, in a few words."""
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return text(exc) or type(exc).__name__
