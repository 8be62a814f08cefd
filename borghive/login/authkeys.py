"""sshd's ``AuthorizedKeysCommand``: the authorized_keys lines of one repository user.

This runs inside every SSH login, as an unprivileged user, with a minimal environment and
stderr thrown away by sshd. So it imports only a few built-in modules and SQLite's (for
PostgreSQL: ctypes and the system libpq, see borghive.login.pq; psycopg2 only where libpq.so.5
is missing), reads the values it needs from the validated copy that admin commands
leave beside the configuration file (see ``borghive.login.cache``; without a current
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
# is imported where a SQLite store is opened: see borghive.login.query.)
import _thread as threads
import os
import sys
import time

try:
    import _signal as signals  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - other Python implementations
    import signal as signals

from borghive.login.lines import AuthKeysError, authorized_line
from borghive.login.query import grants_for
from borghive.login.settings import Settings, load_settings

TIMEOUT_SECONDS = 5
USAGE = "usage: borghive [--config PATH] authkeys USER [KEYTYPE KEY]"


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


def authorized_keys(
    settings: Settings, repo_user: str, key_type: str | None = None, key: str | None = None
) -> str:
    """The whole answer for sshd: zero or more lines."""
    lines = [
        authorized_line(settings, repo_user, grant)
        for grant in grants_for(settings, repo_user, key_type, key)
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
