"""Which borg binary serves a repository."""

from __future__ import annotations

from pathlib import Path

from borghive.config import Config


def borg_binary(config: Config, borg_name: str | None) -> Path:
    return config.borg.path
