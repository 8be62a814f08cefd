"""The login path's one read of the store: the grants of a repository user (or of one of
its keys) on this storage host, with the schema version, over a read-only SQLite
connection: to the store itself when it is SQLite, else to this host's login snapshot
(:mod:`borghive.service.hosts.snapshot`), so that no login needs the network.
"""

from __future__ import annotations

from borghive.login.lines import AuthKeysError, Grant, key_fingerprint
from borghive.login.storeurl import SCHEMA_VERSION, sqlite_file
from borghive.rules.keytypes import KEY_TYPES

# Not typing.TYPE_CHECKING: importing typing costs the login path milliseconds.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from sqlite3 import Connection as SqliteConnection
    from typing import Any

    from borghive.login.settings import Settings

_REPO_USER_FIRST = frozenset("abcdefghijklmnopqrstuvwxyz")
_REPO_USER_CHARS = _REPO_USER_FIRST | frozenset("0123456789_-")

# One statement: the schema version comes with every row,
# and the LEFT JOIN of the one-row aggregate gives a row even when the user has no grant
# (granted NULL): an outdated store is refused whether or not the user is known. A
# repository being purged, or whose account change is in doubt (an account_intent row is
# left), has no grants, and so has one that lives on another storage host (r.host): the
# same statement runs on the store and on the snapshot. {user}, {host} and {fingerprint}
# are the driver's placeholders; {by_key} is empty or the fingerprint test.
_QUERY = """
WITH schema_version AS (SELECT MAX(version) AS version FROM schema_migration)
SELECT schema_version.version, grants.*
FROM schema_version LEFT JOIN (
    SELECT 1 AS granted, r.name AS repo_name, r.mode AS repo_mode, r.quota, k.key_type,
           k.public_key, k.name AS key_name, a.mode AS access_mode,
           COALESCE(a.allowed_from, k.allowed_from) AS allowed_from, r.borg_name
    FROM repository r
    JOIN access a ON a.repository_id = r.id
    JOIN ssh_key k ON k.id = a.key_id
    WHERE r.repo_user = {user} AND r.host = {host}{by_key}
      AND r.purge_started IS NULL
      AND NOT EXISTS (SELECT 1 FROM account_intent i WHERE i.repo_user = r.repo_user)
) AS grants ON 1 = 1
ORDER BY grants.key_name
"""
_BY_KEY = " AND k.fingerprint = {fingerprint}"


class _Sqlite:
    """A read-only SQLite connection."""

    __slots__ = ("connection",)

    def __init__(self, connection: SqliteConnection) -> None:
        self.connection = connection

    def rows(self, statement: str, parameters: tuple[str, ...]) -> list[tuple[Any, ...]]:
        """SQLite's own typed values."""
        return list(self.connection.execute(statement, parameters).fetchall())

    def close(self) -> None:
        self.connection.close()


def _sqlite_module() -> Any:
    # Only here: Python 3.11's _sqlite3 loads functools and collections when imported
    # (~3 ms), which a refusal need not pay.
    try:
        import _sqlite3 as sqlite
    except ImportError:  # pragma: no cover - other Python implementations
        import sqlite3 as sqlite  # type: ignore[no-redef,unused-ignore]
    return sqlite


def _open_snapshot(settings: Settings) -> _Sqlite:
    """This host's login snapshot, read-only and immutable (it is only ever replaced whole,
    never changed in place). Refused (AuthKeysError) when there is none, when it was not
    confirmed current within ``snapshot_trust`` seconds (its mtime), or when it could have
    been made by someone else: owned by neither root nor the configuration file's owner,
    or writable by group or others."""
    import os
    import time

    path = settings.snapshot_path
    if not path:
        raise AuthKeysError("no login snapshot is configured for this PostgreSQL store")
    try:
        status = os.stat(path)
    except OSError as exc:
        raise AuthKeysError(f"login snapshot {path}: {exc.strerror}") from None
    owners = {0}
    if settings.config_file:
        try:  # noqa: SIM105 - contextlib is not imported on the login path
            owners.add(os.stat(settings.config_file).st_uid)
        except OSError:
            pass
    if status.st_uid not in owners or status.st_mode & 0o022:
        raise AuthKeysError(
            f"login snapshot {path}: owned by uid {status.st_uid} with mode "
            f"{status.st_mode & 0o7777:04o}: only root's, writable by nobody else, is trusted"
        )
    age = time.time() - status.st_mtime
    if age > settings.snapshot_trust:
        raise AuthKeysError(
            f"login snapshot {path} was last confirmed current {int(age)}s ago, "
            f"trusted for {int(settings.snapshot_trust)}s"
        )
    sqlite = _sqlite_module()
    try:
        connection = sqlite.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    except sqlite.Error as exc:
        raise AuthKeysError(f"login snapshot {path}: {exc}") from None
    return _Sqlite(connection)


def _connect(settings: Settings) -> _Sqlite:
    """A read-only connection to the SQLite store, or to the login snapshot."""
    path = sqlite_file(settings.store_url)
    if path is None:
        return _open_snapshot(settings)
    sqlite = _sqlite_module()
    try:
        connection = sqlite.connect(f"file:{path}?mode=ro", uri=True, timeout=settings.busy_timeout)
    except sqlite.Error as exc:
        raise AuthKeysError(f"store {path}: {exc}") from None
    return _Sqlite(connection)


def is_repo_user(name: str) -> bool:
    """Whether ``name`` can be a repository user (POSIX: a-z first, then a-z 0-9 _ -)."""
    return 0 < len(name) <= 32 and name[0] in _REPO_USER_FIRST and set(name) <= _REPO_USER_CHARS


def grants_for(
    settings: Settings, repo_user: str, key_type: str | None, key: str | None
) -> list[Grant]:
    """The grants of ``repo_user`` (only the one for ``key`` when given), read-only."""
    if not is_repo_user(repo_user):
        return []
    fingerprint = None
    if key is not None:
        fingerprint = key_fingerprint(key)
        if fingerprint is None or key_type not in KEY_TYPES:
            return []
    connection = _connect(settings)
    try:
        by_key = _BY_KEY.format(fingerprint="?") if fingerprint else ""
        host = settings.host_name
        parameters = (repo_user, host, fingerprint) if fingerprint else (repo_user, host)
        rows = connection.rows(_QUERY.format(user="?", host="?", by_key=by_key), parameters)
    finally:
        connection.close()
    # every row carries the version, and there is always at least one
    versions = {row[0] for row in rows}
    if versions != {SCHEMA_VERSION}:
        version = ", ".join(sorted(str(v) for v in versions))
        raise AuthKeysError(f"store schema version {version}, this borghive needs {SCHEMA_VERSION}")
    grants = [Grant(*row[2:]) for row in rows if row[1] is not None]
    if key_type is not None:
        grants = [g for g in grants if g.key_type == key_type]
    return grants
