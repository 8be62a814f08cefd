"""The login path's one read of the store: the grants of a repository user (or of one of
its keys), with the schema version, over a read-only SQLite connection or the system libpq.
"""

from __future__ import annotations

from borghive.login.lines import AuthKeysError, Grant, key_fingerprint
from borghive.login.storeurl import SCHEMA_VERSION, connection_keywords, sqlite_file
from borghive.rules.keytypes import KEY_TYPES

# Not typing.TYPE_CHECKING: importing typing costs the login path milliseconds.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from sqlite3 import Connection as SqliteConnection
    from typing import Any

    from borghive.login import pq
    from borghive.login.settings import Settings

_REPO_USER_FIRST = frozenset("abcdefghijklmnopqrstuvwxyz")
_REPO_USER_CHARS = _REPO_USER_FIRST | frozenset("0123456789_-")

# One statement, so one round trip to PostgreSQL: the schema version comes with every row,
# and the LEFT JOIN of the one-row aggregate gives a row even when the user has no grant
# (granted NULL): an outdated store is refused whether or not the user is known. A
# repository being purged, or whose account change is in doubt (an account_intent row is
# left), has no grants. {user} and {fingerprint} are the driver's placeholders; {by_key}
# is empty or the fingerprint test.
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
    WHERE r.repo_user = {user}{by_key}
      AND r.purge_started IS NULL
      AND NOT EXISTS (SELECT 1 FROM account_intent i WHERE i.repo_user = r.repo_user)
) AS grants ON 1 = 1
ORDER BY grants.key_name
"""
_BY_KEY = " AND k.fingerprint = {fingerprint}"


def postgres_parameters(settings: Settings) -> dict[str, str]:
    """The libpq connection keywords for the store: read-only, UTF-8, a bounded connect,
    and a statement (a wait for a lock included) bounded by ``busy_timeout`` as SQLite's
    wait is: libpq itself never gives up on a statement."""
    keywords = connection_keywords(
        settings.store_host,
        settings.store_port,
        settings.store_dbname,
        settings.store_user,
        password_file=settings.store_password_file,
        connect_timeout=settings.connect_timeout,
        application_name="borghive-authkeys",
        readonly=True,
    )
    statement_ms = max(1, int(settings.busy_timeout * 1000))
    keywords["options"] += f" -c statement_timeout={statement_ms}"
    return keywords


class _Sqlite:
    """A read-only SQLite connection with pq.Connection's ``rows`` and ``close``."""

    __slots__ = ("connection",)
    placeholders = ("?", "?")

    def __init__(self, connection: SqliteConnection) -> None:
        self.connection = connection

    def rows(
        self, statement: str, parameters: tuple[str, ...], integers: tuple[int, ...] = ()
    ) -> list[tuple[Any, ...]]:
        """SQLite's own typed values (``integers`` is for text-only drivers)."""
        return list(self.connection.execute(statement, parameters).fetchall())

    def close(self) -> None:
        self.connection.close()


def _connect(settings: Settings) -> _Sqlite | pq.Connection | pq.Psycopg2Connection:
    """A read-only connection to the store."""
    path = sqlite_file(settings.store_url)
    if path is not None:
        # Only here: Python 3.11's _sqlite3 loads functools and collections when imported
        # (~3 ms), which PostgreSQL's path need not pay.
        try:
            import _sqlite3 as sqlite
        except ImportError:  # pragma: no cover - other Python implementations
            import sqlite3 as sqlite  # type: ignore[no-redef,unused-ignore]
        try:
            connection = sqlite.connect(
                f"file:{path}?mode=ro", uri=True, timeout=settings.busy_timeout
            )
        except sqlite.Error as exc:
            raise AuthKeysError(f"store {path}: {exc}") from None
        return _Sqlite(connection)
    from borghive.login import pq

    return pq.connect(postgres_parameters(settings))


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
        user, by_fingerprint = connection.placeholders
        by_key = _BY_KEY.format(fingerprint=by_fingerprint) if fingerprint else ""
        parameters = (repo_user, fingerprint) if fingerprint else (repo_user,)
        statement = _QUERY.format(user=user, by_key=by_key)
        # integers: the schema version and the quota (for libpq's text results)
        rows = connection.rows(statement, parameters, integers=(0, 4))
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
