"""Store URLs and the schema version, without importing the ORM (the login path uses them)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from borghive.errors import ConfigError

# The schema version this code needs; store/migrations.py checks it is its latest.
SCHEMA_VERSION = 1


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///relative`` or ``sqlite:////absolute`` URL, else None."""
    if not url.startswith("sqlite://"):
        return None
    rest = url[len("sqlite://") :]
    if not rest.startswith("/") or rest == "/":
        raise ConfigError(f"store.url: expected sqlite:///PATH, got {url!r}")
    return Path(rest[1:])


def describe(url: str) -> str:
    """The URL without user or password, fit for messages."""
    parts = urlsplit(url)
    if parts.scheme.startswith("postgres"):
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
        return f"postgresql://{host}{port}{parts.path}"
    return url
