"""Store URLs and the schema version, without importing the ORM (the login path uses them)."""

from __future__ import annotations

from borghive.errors import ConfigError

# Not typing.TYPE_CHECKING: importing typing costs the login path milliseconds.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from pathlib import Path

# The schema version this code needs; store/migrations.py checks it is its latest.
SCHEMA_VERSION = 3


def sqlite_file(url: str) -> str | None:
    """The file of a ``sqlite:///relative`` or ``sqlite:////absolute`` URL, else None."""
    if not url.startswith("sqlite://"):
        return None
    rest = url[len("sqlite://") :]
    if not rest.startswith("/") or rest == "/":
        raise ConfigError(f"store.url: expected sqlite:///PATH, got {url!r}")
    return rest[1:]


def sqlite_path(url: str) -> Path | None:
    """:func:`sqlite_file` as a Path."""
    from pathlib import Path

    file = sqlite_file(url)
    return None if file is None else Path(file)


def describe(url: str) -> str:
    """The URL without user or password, fit for messages."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme.startswith("postgres"):
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
        return f"postgresql://{host}{port}{parts.path}"
    return url
