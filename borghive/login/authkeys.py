"""sshd's ``AuthorizedKeysCommand``: the authorized_keys lines of one repository user.

This runs inside every SSH login, as an unprivileged user, with a minimal environment and
stderr thrown away by sshd. So it imports only a few built-in modules and SQLite's (for
PostgreSQL: ctypes and the system libpq, see borghive.login.pq; psycopg2 only where libpq.so.5
is missing), reads the values it needs from the validated copy that admin commands
leave beside the configuration file (see ``login_copy.write_login_cache``; without a current
copy it loads the file itself), only reads the store, has its own hard timeout, and on any
error prints nothing, logs one line to syslog and exits non-zero (sshd then refuses the
key). An unknown user is not an error: no output, exit 0.

Every line is rebuilt from parts validated here again, so nothing stored can smuggle an
option or a second line into sshd's input.
"""

from __future__ import annotations

# The C modules under signal, sqlite3 and threading: their Python wrappers import enum,
# datetime and collections, which together cost this path ~4 ms (python -X importtime),
# and it needs none of what they add. Fall back to the public modules elsewhere. (sqlite3's
# is imported where a SQLite store is opened: see _connect.)
import _thread as threads
import os
import sys
import time

try:
    import _signal as signals  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - other Python implementations
    import signal as signals

from borghive.login.configfiles import (
    CONFIG_ENV,
    DEFAULT_CONFIG,
    LOGIN_CACHE_FORMAT,
    LOGIN_CACHE_SUFFIX,
    has_overrides,
    read_secret,
)
from borghive.login.storeurl import SCHEMA_VERSION, sqlite_file
from borghive.rules.keytypes import KEY_TYPES
from borghive.rules.names import name_problem, path_problem

# Not typing.TYPE_CHECKING: importing typing costs the login path milliseconds.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from sqlite3 import Connection as SqliteConnection
    from typing import Any

    from borghive.login import pq

TIMEOUT_SECONDS = 5
USAGE = "usage: borghive [--config PATH] authkeys USER [KEYTYPE KEY]"

_REPO_USER_FIRST = frozenset("abcdefghijklmnopqrstuvwxyz")
_REPO_USER_CHARS = _REPO_USER_FIRST | frozenset("0123456789_-")
_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")

# One statement, so one round trip to PostgreSQL: the schema version comes with every row,
# and the LEFT JOIN of the one-row aggregate gives a row even when the user has no grant
# (granted NULL): an outdated store is refused whether or not the user is known. {user} and
# {fingerprint} are the driver's placeholders; {by_key} is empty or the fingerprint test.
_QUERY = """
WITH schema_version AS (SELECT MAX(version) AS version FROM schema_migration)
SELECT schema_version.version, grants.*
FROM schema_version LEFT JOIN (
    SELECT 1 AS granted, r.name AS repo_name, r.mode AS repo_mode, r.quota, k.key_type,
           k.public_key, k.name AS key_name, a.mode AS access_mode,
           COALESCE(a.allowed_from, k.allowed_from) AS allowed_from
    FROM repository r
    JOIN access a ON a.repository_id = r.id
    JOIN ssh_key k ON k.id = a.key_id
    WHERE r.repo_user = {user}{by_key}
) AS grants ON 1 = 1
ORDER BY grants.key_name
"""
_BY_KEY = " AND k.fingerprint = {fingerprint}"


class AuthKeysError(Exception):
    """Anything that must fail the login closed; the message goes to syslog only."""


class Settings:
    """The configuration values the login path needs (see login_copy.login_settings)."""

    __slots__ = (
        "borg_path",
        "borg_umask",
        "busy_timeout",
        "connect_timeout",
        "repos_root",
        "rrsync_path",
        "store_dbname",
        "store_host",
        "store_password_file",
        "store_port",
        "store_url",
        "store_user",
    )

    def __init__(
        self,
        *,
        store_url: str,
        store_host: str | None,
        store_port: int | None,
        store_dbname: str | None,
        store_user: str | None,
        store_password_file: str | None,
        busy_timeout: float,
        connect_timeout: float,
        repos_root: str,
        borg_path: str,
        borg_umask: str,
        rrsync_path: str,
    ) -> None:
        self.store_url = store_url
        # A PostgreSQL URL's parts, parsed by login_copy.login_settings (urllib.parse costs
        # this path ~2.5 ms); None for SQLite.
        self.store_host = store_host
        self.store_port = store_port
        self.store_dbname = store_dbname
        self.store_user = store_user
        self.store_password_file = store_password_file
        self.busy_timeout = busy_timeout
        self.connect_timeout = connect_timeout
        self.repos_root = repos_root
        self.borg_path = borg_path
        self.borg_umask = borg_umask
        self.rrsync_path = rrsync_path

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> Settings:
        """From ``login_copy.login_settings`` output. TypeError when keys are missing or extra,
        ValueError when a store value cannot go to libpq: a text that is not a string
        without NUL, a port that is not an integer from 1 to 65535."""
        settings = cls(**values)
        texts = (
            settings.store_url,
            settings.store_host,
            settings.store_dbname,
            settings.store_user,
            settings.store_password_file,
        )
        for text in texts:
            if text is not None and (type(text) is not str or "\0" in text):
                raise ValueError("a store setting is not a string without NUL")
        port = settings.store_port
        if port is not None and (type(port) is not int or not 0 < port < 65536):
            raise ValueError("store port is not an integer from 1 to 65535")
        return settings


class Grant:
    """One row: a key's access to the user's repository (plain class: no dataclass or
    typing import on the login path)."""

    __slots__ = (
        "access_mode",
        "allowed_from",
        "key_name",
        "key_type",
        "public_key",
        "quota",
        "repo_mode",
        "repo_name",
    )

    def __init__(
        self,
        repo_name: str,
        repo_mode: str,
        quota: int | None,
        key_type: str,
        public_key: str,
        key_name: str,
        access_mode: str,
        allowed_from: str | None,
    ) -> None:
        self.repo_name = repo_name
        self.repo_mode = repo_mode
        self.quota = quota
        self.key_type = key_type
        self.public_key = public_key
        self.key_name = key_name
        self.access_mode = access_mode
        self.allowed_from = allowed_from


def parse_arguments(argv: list[str]) -> tuple[str | None, str, str | None, str | None]:
    """(config path, user, key type, key) from ``[--config PATH] authkeys USER [TYPE KEY]``."""
    config: str | None = None
    rest = list(argv)
    while rest and rest[0].startswith("-"):
        option = rest.pop(0)
        if option in ("--config", "-c") and rest:
            config = rest.pop(0)
        elif option.startswith("--config="):
            config = option.split("=", 1)[1]
        else:
            raise AuthKeysError(f"unknown option {option[:40]!r}; {USAGE}")
    if not rest or rest[0] != "authkeys":
        raise AuthKeysError(USAGE)
    rest.pop(0)
    if len(rest) == 1:
        return config, rest[0], None, None
    if len(rest) == 3:
        return config, rest[0], rest[1], rest[2]
    raise AuthKeysError(USAGE)


def is_base64(blob: str) -> bool:
    """Whether ``blob`` looks like a padded base64 key blob (at least 16 characters)."""
    data = blob.rstrip("=")
    return (
        len(blob) >= 16
        and len(blob) % 4 == 0
        and len(blob) - len(data) <= 2
        and set(data) <= _BASE64_CHARS
    )


def _sha256(data: bytes) -> bytes:
    """SHA-256 without importing hashlib, whose OpenSSL binding costs the login path ~3 ms:
    CPython's own built-in implementation (``_sha256`` up to 3.11, ``_sha2`` from 3.12)."""
    try:
        from _sha256 import sha256  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        try:
            from _sha2 import sha256  # type: ignore[import-not-found,no-redef,unused-ignore]
        except ImportError:
            from hashlib import sha256  # type: ignore[assignment,unused-ignore]
    return bytes(sha256(data).digest())


def key_fingerprint(blob: str) -> str | None:
    """The SHA256 fingerprint of a base64 key blob (as ``ssh-keygen -l`` prints it), or
    None when it is not base64. binascii is built in; the base64 module is not needed."""
    if not is_base64(blob):
        return None
    import binascii

    try:
        raw = binascii.a2b_base64(blob, strict_mode=True)
    except (binascii.Error, ValueError):
        return None
    digest = binascii.b2a_base64(_sha256(raw), newline=False).decode()
    return "SHA256:" + digest.rstrip("=")


def _safe_path(text: str, what: str) -> str:
    if path_problem(text):
        raise AuthKeysError(f"{what} {text[:80]!r} has characters unsafe in a forced command")
    return text


_SOURCE_CHARS = frozenset("0123456789abcdefABCDEF.:/,")


def _source_list(text: str) -> str:
    """A stored ``from=`` list, checked for what could break out of the option: only
    address characters, no empty entry. (Fully validated with ipaddress when it was
    stored, see borghive.rules.sources; that module costs the login path ~4 ms.)"""
    if not text or not set(text) <= _SOURCE_CHARS or "" in text.split(","):
        raise AuthKeysError(f"stored source restriction {text[:60]!r} is malformed")
    return text


def _is_umask(text: str) -> bool:
    return len(text) in (3, 4) and set(text) <= set("01234567") and text[-4:-3] in ("", "0")


def forced_command(settings: Settings, repo_user: str, grant: Grant) -> str | None:
    """The forced command for a grant, or None when the repository mode allows no login."""
    path = _safe_path(f"{settings.repos_root}/{repo_user}/{grant.repo_name}", "repository path")
    if grant.repo_mode == "borg":
        borg = _safe_path(settings.borg_path, "borg.path")
        if not _is_umask(settings.borg_umask):
            raise AuthKeysError("borg.umask is not an octal umask")
        command = f"{borg} serve --umask {settings.borg_umask} --restrict-to-repository {path}"
        if grant.access_mode == "append-only":
            command += " --append-only"
        if grant.quota is not None:
            command += f" --storage-quota {int(grant.quota)}"
        return command
    rrsync = _safe_path(settings.rrsync_path, "borg.rrsync_path")
    if grant.repo_mode == "import":
        # rrsync needs the directory; nothing else creates it for rsync (borg init does for
        # borg), and only this host can: the store may serve several storage hosts.
        return f"/bin/mkdir -p -m 0700 {path} && {rrsync} -wo {path}"
    if grant.repo_mode == "export":
        return f"{rrsync} -ro {path}"
    return None


def authorized_line(settings: Settings, repo_user: str, grant: Grant) -> str | None:
    """One authorized_keys line rebuilt from validated parts; None for a disabled mode.

    Raises AuthKeysError when a stored part fails validation (the store was tampered with
    or corrupted): the whole answer is then refused.
    """
    if grant.key_type not in KEY_TYPES:
        raise AuthKeysError(f"stored key type {grant.key_type[:40]!r} is not allowed")
    key_type, _, blob = grant.public_key.partition(" ")
    if key_type != grant.key_type or not is_base64(blob):
        raise AuthKeysError(f"stored key {grant.key_name[:64]!r} is malformed")
    if name_problem(grant.key_name) or name_problem(grant.repo_name):
        raise AuthKeysError("stored key or repository name is malformed")
    if grant.access_mode not in ("full", "append-only"):
        raise AuthKeysError(f"stored access mode {grant.access_mode[:20]!r} is unknown")
    if grant.quota is not None and (type(grant.quota) is not int or grant.quota < 1):
        raise AuthKeysError(f"stored quota {str(grant.quota)[:20]!r} is not a positive integer")
    command = forced_command(settings, repo_user, grant)
    if command is None:
        return None
    options = f'restrict,command="{command}"'
    # "is not None", not truth: an empty stored restriction is invalid, not "no restriction"
    if grant.allowed_from is not None:
        options += f',from="{_source_list(grant.allowed_from)}"'
    return f"{options} {key_type} {blob} {grant.key_name}\n"


def postgres_parameters(settings: Settings) -> dict[str, str]:
    """The libpq connection keywords for the store: read-only, UTF-8, bounded connect."""
    parameters = {
        "dbname": settings.store_dbname or "borghive",
        "port": str(settings.store_port or 5432),
        "connect_timeout": str(max(1, int(settings.connect_timeout))),
        "options": "-c default_transaction_read_only=on",
        "application_name": "borghive-authkeys",
        "client_encoding": "UTF8",
    }
    # left out, not empty: libpq's defaults apply (local socket, the login name)
    if settings.store_host:
        parameters["host"] = settings.store_host
    if settings.store_user:
        parameters["user"] = settings.store_user
    if settings.store_password_file:
        parameters["password"] = read_secret(settings.store_password_file, "store.password_file")
    return parameters


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


def authorized_keys(
    settings: Settings, repo_user: str, key_type: str | None = None, key: str | None = None
) -> str:
    """The whole answer for sshd: zero or more lines."""
    lines = [
        authorized_line(settings, repo_user, grant)
        for grant in grants_for(settings, repo_user, key_type, key)
    ]
    return "".join(line for line in lines if line)


def _cached_settings(path: str) -> Settings | None:
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
        cached = _cached_settings(os.path.abspath(path))
        if cached is not None:
            return cached
    from pathlib import Path

    from borghive.config import load_config
    from borghive.login.cache import login_settings

    config = load_config(Path(config_path) if config_path else None, environ)
    return Settings.from_mapping(login_settings(config))


def _log(message: str) -> None:
    """One line to syslog (sshd discards stderr); never raises."""
    try:
        import syslog

        syslog.openlog("borghive-authkeys", syslog.LOG_PID, syslog.LOG_AUTH)
        syslog.syslog(syslog.LOG_WARNING, message[:400])
    except Exception:  # noqa: BLE001, S110 - logging must not turn a refusal into a crash
        pass


def _timeout() -> None:
    _log(f"timed out after {TIMEOUT_SECONDS}s; refusing")
    os._exit(3)


def _watchdog(finished: list[bool]) -> None:
    time.sleep(TIMEOUT_SECONDS)
    if not finished:
        _timeout()


def main(argv: list[str] | None = None) -> int:
    """Entry point: print the lines and return 0, or print nothing and return non-zero."""
    # A thread, not a SIGALRM handler: Python runs signal handlers only between bytecodes,
    # so a handler would wait for a driver call blocked in C (SQLite's busy wait, libpq)
    # to return. The drivers release the GIL while they block, so the thread can run.
    finished: list[bool] = []
    threads.start_new_thread(_watchdog, (finished,))
    # Backstop should the thread never get the GIL: SIGALRM's default action kills us.
    signals.signal(signals.SIGALRM, signals.SIG_DFL)
    signals.alarm(TIMEOUT_SECONDS + 2)
    try:
        config_path, user, key_type, key = parse_arguments(sys.argv[1:] if argv is None else argv)
        answer = authorized_keys(load_settings(config_path), user, key_type, key)
        sys.stdout.write(answer)
        sys.stdout.flush()
    except Exception as exc:  # noqa: BLE001 - fail closed on anything
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        _log(f"refusing: {type(exc).__name__}: {message.splitlines()[0] if message else ''}")
        return 1
    finally:
        finished.append(True)
        signals.alarm(0)
    return 0
