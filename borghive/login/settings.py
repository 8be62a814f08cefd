"""The configuration values the login path needs: from the login copy beside the
configuration file when it is current and trustworthy (see :mod:`borghive.login.cache`),
else from the full, strict configuration loader.
"""

from __future__ import annotations

import os

from borghive.login.configfiles import (
    CONFIG_ENV,
    DEFAULT_CONFIG,
    LOGIN_CACHE_FORMAT,
    LOGIN_CACHE_SUFFIX,
    has_overrides,
)

# Not typing.TYPE_CHECKING: importing typing costs the login path milliseconds.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any


class Settings:
    """The configuration values the login path needs (see borghive.login.cache.login_settings)."""

    __slots__ = (
        "borg_path",
        "borg_umask",
        "borg_versions",
        "busy_timeout",
        "config_file",
        "connect_timeout",
        "host_name",
        "repos_root",
        "rrsync_path",
        "snapshot_path",
        "snapshot_trust",
        "store_url",
    )

    def __init__(
        self,
        *,
        store_url: str,
        busy_timeout: float,
        connect_timeout: float,
        repos_root: str,
        borg_path: str,
        borg_umask: str,
        borg_versions: dict[str, str],
        rrsync_path: str,
        host_name: str,
        snapshot_path: str | None,
        snapshot_trust: float,
        config_file: str | None,
    ) -> None:
        self.store_url = store_url
        self.busy_timeout = busy_timeout
        self.connect_timeout = connect_timeout
        self.repos_root = repos_root
        self.borg_path = borg_path
        self.borg_umask = borg_umask
        # [borg.versions]: name -> path, the borg a repository's borg_name selects.
        self.borg_versions = borg_versions
        self.rrsync_path = rrsync_path
        # This storage host's name: only its repositories are served here.
        self.host_name = host_name
        # On a PostgreSQL store, the login snapshot authkeys reads instead (None on SQLite),
        # and how many seconds after its last confirmation (its mtime) it is still trusted.
        self.snapshot_path = snapshot_path
        self.snapshot_trust = snapshot_trust
        # The configuration file (None: built-in defaults): its owner may own the snapshot.
        self.config_file = config_file

    def within(self, seconds: float) -> Settings:
        """A copy whose store timeouts (SQLite's busy wait; the connect timeout is kept for
        the same bound) end within ``seconds``: never longer than
        configured, and at least a tenth of a second (a run out of time is the watchdog's)."""
        limit = max(0.1, seconds)
        copy = Settings.__new__(Settings)
        for name in self.__slots__:
            setattr(copy, name, getattr(self, name))
        copy.busy_timeout = min(self.busy_timeout, limit)
        copy.connect_timeout = min(self.connect_timeout, limit)
        return copy

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> Settings:
        """From ``login.cache.login_settings`` output. TypeError when keys are missing or extra,
        ValueError when a path or name is not a string without NUL, snapshot_trust is not a
        positive number, or borg_versions is not a dict of strings to strings."""
        settings = cls(**values)
        texts = (
            settings.store_url,
            settings.host_name,
            settings.snapshot_path,
            settings.config_file,
        )
        for text in texts:
            if text is not None and (type(text) is not str or "\0" in text):
                raise ValueError("a text setting is not a string without NUL")
        trust = settings.snapshot_trust
        if type(trust) not in (int, float) or not 0 < trust < float("inf"):
            raise ValueError("snapshot_trust is not a positive number of seconds")
        versions = settings.borg_versions
        if type(versions) is not dict or not all(
            type(name) is str and type(path) is str for name, path in versions.items()
        ):
            raise ValueError("borg_versions is not a table of names to paths")
        return settings


def cached_settings(path: str) -> Settings | None:
    """The login copy beside ``path`` if it is current and trustworthy, else None."""
    import marshal

    try:
        identity = os.stat(path)
        with open(path + LOGIN_CACHE_SUFFIX, "rb") as handle:
            status = os.fstat(handle.fileno())
            # Only a copy made by the file's owner (or root), writable by nobody else.
            if status.st_uid not in (0, identity.st_uid) or status.st_mode & 0o022:
                return None
            payload = marshal.load(handle)  # noqa: S302 - root's own file, checked above
    except (OSError, EOFError, ValueError, TypeError):
        return None
    expected = [identity.st_dev, identity.st_ino, identity.st_size, identity.st_mtime_ns]
    if (
        not isinstance(payload, dict)
        or payload.get("format") != LOGIN_CACHE_FORMAT
        or payload.get("source") != path
        or payload.get("identity") != expected
    ):
        return None
    try:
        return Settings.from_mapping(payload["settings"])
    except (KeyError, TypeError, ValueError):
        return None


def load_settings(config_path: str | None, environ: dict[str, str] | None = None) -> Settings:
    """The login settings: from the current login copy when there is one and no
    BORGHIVE_* override is set, else from the full, strict configuration loader."""
    environ = dict(os.environ) if environ is None else environ
    path = config_path or environ.get(CONFIG_ENV) or DEFAULT_CONFIG
    overridden = has_overrides(environ)
    if not overridden:
        cached = cached_settings(os.path.abspath(path))
        if cached is not None:
            return cached
    from pathlib import Path

    from borghive.config_load import load_config
    from borghive.login.cache import login_settings

    config = load_config(Path(config_path) if config_path else None, environ)
    return Settings.from_mapping(login_settings(config))
