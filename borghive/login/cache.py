"""The login path's copy of the configuration.

``borghive authkeys`` runs for every key of every SSH login. Parsing TOML and building
these dataclasses costs it more than the interpreter's own start, so commands an admin
runs after editing the file (config check, migrate, doctor) leave a validated copy of the
few values it needs beside the file, in marshal format. authkeys uses it only while the
file's identity (device, inode, size, mtime) is unchanged and no BORGHIVE_* override is
set; otherwise it loads the file itself. The copy can make logins faster, never different.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from borghive.config import Config
from borghive.config_load import load_config
from borghive.errors import ConfigError
from borghive.login.configfiles import (
    DEFAULT_CONFIG,
    LOGIN_CACHE_FORMAT,
    LOGIN_CACHE_SUFFIX,
    SNAPSHOT_SUFFIX,
    has_overrides,
)
from borghive.login.storeurl import is_postgres
from borghive.rules.quantities import parse_duration


def config_file(config: Config) -> str | None:
    """The absolute path of the configuration file, None for the built-in defaults (or
    another source in angle brackets, which names no file)."""
    if config.source.startswith("<"):
        return None
    return os.path.abspath(config.source)


def snapshot_file(config: Config) -> str | None:
    """Where this host's login snapshot is, defined once (None on a SQLite store, where
    authkeys reads the store itself): hosts.snapshot, else beside the configuration file
    (FILE.snapshot), else beside the default configuration file's place."""
    if not is_postgres(config.store.url):
        return None
    if config.hosts.snapshot is not None:
        return os.path.abspath(config.hosts.snapshot)
    return (config_file(config) or DEFAULT_CONFIG) + SNAPSHOT_SUFFIX


def login_settings(config: Config) -> dict[str, str | int | float | dict[str, str] | None]:
    """The values ``authkeys`` needs, as plain data. On PostgreSQL it reads this host's
    login snapshot (``snapshot_path``), never the store itself."""
    return {
        "store_url": config.store.url,
        "busy_timeout": config.store.busy_timeout,
        "connect_timeout": config.store.connect_timeout,
        "repos_root": str(config.repos.root),
        "borg_path": str(config.borg.path),
        "borg_umask": config.borg.umask,
        "borg_versions": {name: str(path) for name, path in config.borg.versions.items()},
        "rrsync_path": str(config.borg.rrsync_path),
        "host_name": config.repos.public_host,
        "snapshot_path": snapshot_file(config),
        "snapshot_trust": float(parse_duration(config.hosts.snapshot_trust)),
        "config_file": config_file(config),
    }


def file_identity(path: str) -> list[int]:
    """(device, inode, size, mtime in ns) of a file: what the login cache is keyed on."""
    st = os.stat(path)
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


def write_login_cache(config: Config, environ: Mapping[str, str] | None = None) -> Path | None:
    """Write the login path's copy of ``config`` beside its file; return its path, or None
    when there is nothing to cache (built-in defaults, environment overrides) or the file
    changed meanwhile. Failing to write is not an error: logins just stay slower."""
    import marshal

    environ = os.environ if environ is None else environ
    if config.source == Config.source or has_overrides(environ):
        return None
    source = os.path.abspath(config.source)
    try:
        before = file_identity(source)
        fresh = load_config(Path(source), environ)
        if file_identity(source) != before:
            return None
        payload = {
            "format": LOGIN_CACHE_FORMAT,
            "source": source,
            "identity": before,
            "settings": login_settings(fresh),
        }
        target = Path(source + LOGIN_CACHE_SUFFIX)
        temporary = target.with_name(f".{target.name}.{os.getpid()}")
        status = os.stat(source)
        with open(temporary, "wb") as handle:
            # Readable by whoever may read the file itself (sshd's command user), no more.
            os.fchown(handle.fileno(), -1, status.st_gid)
            os.fchmod(handle.fileno(), status.st_mode & 0o644)
            marshal.dump(payload, handle)
        os.replace(temporary, target)
    except (OSError, ConfigError):
        return None
    return target
