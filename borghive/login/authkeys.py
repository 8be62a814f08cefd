"""sshd's ``AuthorizedKeysCommand``: the authorized_keys lines of one repository user.

This runs inside every SSH login, as an unprivileged user, with a minimal environment and
stderr thrown away by sshd. So it imports only a few built-in modules and SQLite's, reads
the values it needs from the validated copy that admin commands leave beside the
configuration file (see ``borghive.login.cache``; without a current copy it loads the file
itself), only reads a SQLite file (the store, or on PostgreSQL this host's login snapshot:
``borghive.service.hosts.snapshot``; never the network), has its own hard timeout, and on any
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

# The whole run, from the process's start, ends within this: sshd has no limit of its own.
TIMEOUT_SECONDS = 5
# The watchdog ends the run this long before the limit (time to log, exit and be reaped,
# on a loaded host), and the store's own timeouts give up this much earlier again, so a
# slow store is refused with its own reason and the watchdog stays the backstop.
WATCHDOG_MARGIN = 0.5
STORE_MARGIN = 0.5
# Beyond this, an odd /proc reading (or a start so slow that nothing can be saved) is not
# believed: the run still gets a second of its own.
_MAX_START_SECONDS = TIMEOUT_SECONDS - WATCHDOG_MARGIN - 1.0
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


def process_age() -> float:
    """Seconds since the kernel started this process (interpreter start-up included), from
    /proc/self/stat; 0 where that cannot be read. At most ``_MAX_START_SECONDS``."""
    try:
        with open("/proc/self/stat", "rb") as handle:
            # the command name (field 2) may hold spaces and parentheses: split after it
            fields = handle.read().rsplit(b")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - started
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0
    return min(max(age, 0.0), _MAX_START_SECONDS)


def _timeout() -> None:
    _log(f"timed out (limit {TIMEOUT_SECONDS}s); refusing")
    os._exit(3)


def _watchdog(finished: list[bool], deadline: float) -> None:
    time.sleep(max(0.0, deadline - time.monotonic()))
    if not finished:
        _timeout()


def main(argv: list[str] | None = None) -> int:
    """Entry point: print the lines and return 0, or print nothing and return non-zero."""
    # A thread, not a SIGALRM handler: Python runs signal handlers only between bytecodes,
    # so a handler would wait for a driver call blocked in C (SQLite's busy wait)
    # to return. The drivers release the GIL while they block, so the thread can run.
    deadline = time.monotonic() - process_age() + TIMEOUT_SECONDS - WATCHDOG_MARGIN
    finished: list[bool] = []
    threads.start_new_thread(_watchdog, (finished, deadline))
    # Backstop should the thread never get the GIL: SIGALRM's default action kills us,
    # still within the limit.
    signals.signal(signals.SIGALRM, signals.SIG_DFL)
    signals.setitimer(signals.ITIMER_REAL, deadline + WATCHDOG_MARGIN / 2 - time.monotonic())
    try:
        config_path, user, key_type, key = parse_arguments(sys.argv[1:] if argv is None else argv)
        settings = load_settings(config_path)
        # The store waits (lock, connect, statement) only as long as the run has left.
        budget = settings.within(deadline - STORE_MARGIN - time.monotonic())
        answer = authorized_keys(budget, user, key_type, key)
        sys.stdout.write(answer)
        sys.stdout.flush()
    except Exception as exc:  # noqa: BLE001 - fail closed on anything
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        _log(f"refusing: {type(exc).__name__}: {message.splitlines()[0] if message else ''}")
        return 1
    finally:
        finished.append(True)
        signals.setitimer(signals.ITIMER_REAL, 0)
    return 0
