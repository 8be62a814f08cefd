"""sshd's ``AuthorizedKeysCommand``: the authorized_keys lines of one repository user.

This runs inside every SSH login, as an unprivileged user, with a minimal environment and
stderr thrown away by sshd. So it imports only the standard library, the configuration
and (for PostgreSQL) the driver; it only reads; it has its own hard timeout; and on any
error it prints nothing, logs one line to syslog and exits non-zero (sshd then refuses
the key). An unknown user is not an error: no output, exit 0.

Every line is rebuilt from parts validated here again, so nothing stored can smuggle an
option or a second line into sshd's input.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import signal
import sqlite3
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from borghive.config import SAFE_PATH, Config, load_config, read_secret
from borghive.names import name_problem
from borghive.sources import check_sources
from borghive.sshkeys import KEY_TYPES
from borghive.store.url import SCHEMA_VERSION, sqlite_path

TIMEOUT_SECONDS = 5
USAGE = "usage: borghive [--config PATH] authkeys USER [KEYTYPE KEY]"

_REPO_USER = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_BASE64 = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")
_UMASK = re.compile(r"0?[0-7]{3}")

_QUERY = """
SELECT r.name, r.mode, r.quota, k.key_type, k.public_key, k.name, a.mode,
       COALESCE(a.allowed_from, k.allowed_from)
FROM repository r
JOIN access a ON a.repository_id = r.id
JOIN ssh_key k ON k.id = a.key_id
WHERE r.repo_user = {p}{by_key}
ORDER BY k.name
"""


class AuthKeysError(Exception):
    """Anything that must fail the login closed; the message goes to syslog only."""


@dataclass(frozen=True)
class Grant:
    """One row: a key's access to the user's repository."""

    repo_name: str
    repo_mode: str
    quota: int | None
    key_type: str
    public_key: str
    key_name: str
    access_mode: str
    allowed_from: str | None


def parse_arguments(argv: list[str]) -> tuple[Path | None, str, str | None, str | None]:
    """(config path, user, key type, key) from ``[--config PATH] authkeys USER [TYPE KEY]``."""
    config: Path | None = None
    rest = list(argv)
    while rest and rest[0].startswith("-"):
        option = rest.pop(0)
        if option in ("--config", "-c") and rest:
            config = Path(rest.pop(0))
        elif option.startswith("--config="):
            config = Path(option.split("=", 1)[1])
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


def key_fingerprint(blob: str) -> str | None:
    """The SHA256 fingerprint of a base64 key blob, or None when it is not base64."""
    if not _BASE64.fullmatch(blob):
        return None
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        return None
    return "SHA256:" + base64.b64encode(hashlib.sha256(raw).digest()).decode().rstrip("=")


def _safe_path(path: Path, what: str) -> str:
    text = str(path)
    if not SAFE_PATH.fullmatch(text) or "/../" in f"{text}/":
        raise AuthKeysError(f"{what} {text[:80]!r} has characters unsafe in a forced command")
    return text


def forced_command(config: Config, repo_user: str, grant: Grant) -> str | None:
    """The forced command for a grant, or None when the repository mode allows no login."""
    path = _safe_path(config.repos.root / repo_user / grant.repo_name, "repository path")
    if grant.repo_mode == "borg":
        borg = _safe_path(config.borg.path, "borg.path")
        if not _UMASK.fullmatch(config.borg.umask):
            raise AuthKeysError("borg.umask is not an octal umask")
        command = f"{borg} serve --umask {config.borg.umask} --restrict-to-repository {path}"
        if grant.access_mode == "append-only":
            command += " --append-only"
        if grant.quota is not None:
            command += f" --storage-quota {int(grant.quota)}"
        return command
    rrsync = _safe_path(config.borg.rrsync_path, "borg.rrsync_path")
    if grant.repo_mode == "import":
        # rrsync needs the directory; nothing else creates it for rsync (borg init does for
        # borg), and only this host can: the store may serve several storage hosts.
        return f"/bin/mkdir -p -m 0700 {path} && {rrsync} -wo {path}"
    if grant.repo_mode == "export":
        return f"{rrsync} -ro {path}"
    return None


def authorized_line(config: Config, repo_user: str, grant: Grant) -> str | None:
    """One authorized_keys line rebuilt from validated parts; None for a disabled mode.

    Raises AuthKeysError when a stored part fails validation (the store was tampered with
    or corrupted): the whole answer is then refused.
    """
    if grant.key_type not in KEY_TYPES:
        raise AuthKeysError(f"stored key type {grant.key_type[:40]!r} is not allowed")
    key_type, _, blob = grant.public_key.partition(" ")
    if key_type != grant.key_type or key_fingerprint(blob) is None:
        raise AuthKeysError(f"stored key {grant.key_name[:64]!r} is malformed")
    if name_problem(grant.key_name) or name_problem(grant.repo_name):
        raise AuthKeysError("stored key or repository name is malformed")
    if grant.access_mode not in ("full", "append-only"):
        raise AuthKeysError(f"stored access mode {grant.access_mode[:20]!r} is unknown")
    if grant.quota is not None and (type(grant.quota) is not int or grant.quota < 1):
        raise AuthKeysError(f"stored quota {str(grant.quota)[:20]!r} is not a positive integer")
    command = forced_command(config, repo_user, grant)
    if command is None:
        return None
    options = f'restrict,command="{command}"'
    # "is not None", not truth: an empty stored restriction is invalid, not "no restriction"
    if grant.allowed_from is not None:
        options += f',from="{check_sources(grant.allowed_from)}"'
    return f"{options} {key_type} {blob} {grant.key_name}\n"


def _connect(config: Config) -> tuple[Any, str]:
    """A read-only DB-API connection and its parameter placeholder."""
    path = sqlite_path(config.store.url)
    if path is not None:
        try:
            connection = sqlite3.connect(
                f"file:{path}?mode=ro", uri=True, timeout=config.store.busy_timeout
            )
        except sqlite3.Error as exc:
            raise AuthKeysError(f"store {path}: {exc}") from None
        return connection, "?"
    from urllib.parse import unquote, urlsplit

    import psycopg2

    parts = urlsplit(config.store.url)
    password = (
        read_secret(config.store.password_file, "store.password_file")
        if config.store.password_file
        else None
    )
    connection = psycopg2.connect(
        dbname=unquote(parts.path.lstrip("/")) or "borghive",
        host=parts.hostname or None,
        port=parts.port or 5432,
        user=unquote(parts.username) if parts.username else None,
        password=password,
        connect_timeout=max(1, int(config.store.connect_timeout)),
        options="-c default_transaction_read_only=on",
    )
    return connection, "%s"


def grants_for(
    config: Config, repo_user: str, key_type: str | None, key: str | None
) -> list[Grant]:
    """The grants of ``repo_user`` (only the one for ``key`` when given), read-only."""
    if not _REPO_USER.fullmatch(repo_user):
        return []
    fingerprint = None
    if key is not None:
        fingerprint = key_fingerprint(key)
        if fingerprint is None or key_type not in KEY_TYPES:
            return []
    connection, placeholder = _connect(config)
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT MAX(version) FROM schema_migration")
        (version,) = cursor.fetchone()
        if version != SCHEMA_VERSION:
            raise AuthKeysError(
                f"store schema version {version}, this borghive needs {SCHEMA_VERSION}"
            )
        by_key = f" AND k.fingerprint = {placeholder}" if fingerprint else ""
        parameters = (repo_user, fingerprint) if fingerprint else (repo_user,)
        cursor.execute(_QUERY.format(p=placeholder, by_key=by_key), parameters)
        rows = cursor.fetchall()
    finally:
        connection.close()
    grants = [Grant(*row) for row in rows]
    if key_type is not None:
        grants = [g for g in grants if g.key_type == key_type]
    return grants


def authorized_keys(
    config: Config, repo_user: str, key_type: str | None = None, key: str | None = None
) -> str:
    """The whole answer for sshd: zero or more lines."""
    lines = [
        authorized_line(config, repo_user, grant)
        for grant in grants_for(config, repo_user, key_type, key)
    ]
    return "".join(line for line in lines if line)


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


def main(argv: list[str] | None = None) -> int:
    """Entry point: print the lines and return 0, or print nothing and return non-zero."""
    # A thread, not a SIGALRM handler: Python runs signal handlers only between bytecodes,
    # so a handler would wait for a driver call blocked in C (SQLite's busy wait, libpq)
    # to return. The drivers release the GIL while they block, so the thread can run.
    watchdog = threading.Timer(TIMEOUT_SECONDS, _timeout)
    watchdog.daemon = True
    watchdog.start()
    # Backstop should the thread never get the GIL: SIGALRM's default action kills us.
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(TIMEOUT_SECONDS + 2)
    try:
        config_path, user, key_type, key = parse_arguments(sys.argv[1:] if argv is None else argv)
        answer = authorized_keys(load_config(config_path), user, key_type, key)
        sys.stdout.write(answer)
        sys.stdout.flush()
    except Exception as exc:  # noqa: BLE001 - fail closed on anything
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        _log(f"refusing: {type(exc).__name__}: {message.splitlines()[0] if message else ''}")
        return 1
    finally:
        watchdog.cancel()
        signal.alarm(0)
    return 0
