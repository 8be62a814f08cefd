"""An LDAP outage as a storage host sees it, timed: a real slapd and the login host's real
nslcd (tests/harness/sshd.py), with nslcd's time limits as ``etc/nslcd.conf`` ships them.

:func:`measure_outage` resolves a repository user with ``getent passwd`` through that
nslcd and logs in over ssh, while slapd is up, stopped (SIGSTOP: connections hang),
killed (connections refused) and back, and returns how long each took. Used by
tests/e2e/test_nslcd_outage.py and benchmarks/bench_nslcd_outage.py.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.harness.sshd import Site, account_ldif

SHIPPED_NSLCD_CONF = Path(__file__).resolve().parents[2] / "etc" / "nslcd.conf"
# nslcd.conf(5): the options that decide how long a lookup waits for a directory that is
# away, and how soon nslcd tries again.
TIME_OPTIONS = (
    "bind_timelimit",
    "timelimit",
    "idle_timelimit",
    "reconnect_sleeptime",
    "reconnect_retrytime",
)
USER, UID, GID, GROUP = "routage1", 200001, 200000, "borgrepos"
RECOVERY_LIMIT = 60.0  # give up waiting for resolution to come back after this


def shipped_time_options(path: Path = SHIPPED_NSLCD_CONF) -> str:
    """The time-limit lines of the shipped nslcd.conf, as they are written there."""
    lines = [line.strip() for line in path.read_text().splitlines()]
    return "\n".join(line for line in lines if line.split(" ", 1)[0] in TIME_OPTIONS) + "\n"


@dataclass(frozen=True)
class OutageFigures:
    """Seconds each step took. ``*_resolves``/``*_refused`` say whether the step gave the
    answer expected of it (resolved while up, refused while down)."""

    up_lookup: float
    stopped_lookups: tuple[float, ...]
    stopped_login: float
    killed_lookups: tuple[float, ...]
    killed_login: float
    back_after_restart: float
    all_refused: bool

    def lines(self) -> list[str]:
        """The figures for people, one a line."""

        def listed(values: tuple[float, ...]) -> str:
            return ", ".join(f"{v:.2f}" for v in values)

        return [
            f"lookup with slapd up:              {self.up_lookup:.2f}s",
            f"first ssh login refused, slapd stopped (SIGSTOP): {self.stopped_login:.2f}s",
            f"then lookups refused:              {listed(self.stopped_lookups)}s",
            f"first ssh login refused, slapd killed: {self.killed_login:.2f}s",
            f"then lookups refused:              {listed(self.killed_lookups)}s",
            f"resolving again after slapd's return: {self.back_after_restart:.2f}s",
        ]


def _timed(action: Callable[[], bool]) -> tuple[float, bool]:
    started = time.monotonic()
    result = action()
    return time.monotonic() - started, result


def _wait_until(condition: Callable[[], bool]) -> bool:
    """Poll ``condition`` every 0.1 s for up to RECOVERY_LIMIT; whether it came true."""
    deadline = time.monotonic() + RECOVERY_LIMIT
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def measure_outage(work: Path, nslcd_options: str | None = None, lookups: int = 3) -> OutageFigures:
    """Start slapd and the login host (nslcd with ``nslcd_options``, default: the shipped
    time limits), then time ``lookups`` refused lookups and one refused login while slapd is
    stopped and again while it is killed, and how soon a lookup resolves once slapd answers
    again. Everything is stopped before it returns."""
    Site.require()
    site = Site(work, "key")
    site.command.write_text("#!/bin/sh\nexit 0\n")  # no key for anyone: logins are refused
    site.command.chmod(0o755)
    options = shipped_time_options() if nslcd_options is None else nslcd_options
    try:
        site.slapd.start()
        home = site.repos / USER
        site.slapd.ldapadd(account_ldif(site.slapd, USER, UID, GID, GROUP, home))
        host = site.start_host(nslcd_options=options)

        def resolves() -> bool:
            answer = host.inside("getent", "passwd", USER)
            return answer.returncode == 0 and answer.stdout.startswith(f"{USER}:")

        def login_refused() -> bool:
            return host.ssh(USER, site.keys["key"], "true").returncode == 255

        up, ok = _timed(resolves)
        if not ok:
            raise RuntimeError(f"{USER} does not resolve with slapd up:\n{host.nslcd_log[-2000:]}")
        pid = site.slapd.pid
        assert pid is not None
        refused = True

        # The first login of an outage first: it pays for nslcd noticing the outage.
        os.kill(pid, signal.SIGSTOP)
        try:
            stopped_login = _timed(login_refused)
            stopped = [_timed(resolves) for _ in range(lookups)]
        finally:
            os.kill(pid, signal.SIGCONT)
        refused &= not any(ok for _, ok in stopped) and stopped_login[1]
        if not _wait_until(resolves):  # up again, so the kill is an outage of its own
            raise RuntimeError(f"{USER} does not resolve after SIGCONT:\n{host.nslcd_log[-2000:]}")

        site.slapd.kill()
        killed_login = _timed(login_refused)
        killed = [_timed(resolves) for _ in range(lookups)]
        refused &= not any(ok for _, ok in killed) and killed_login[1]

        site.slapd.restart()  # returns once slapd answers
        back_started = time.monotonic()
        _wait_until(resolves)
        back = time.monotonic() - back_started
        return OutageFigures(
            up_lookup=up,
            stopped_lookups=tuple(t for t, _ in stopped),
            stopped_login=stopped_login[0],
            killed_lookups=tuple(t for t, _ in killed),
            killed_login=killed_login[0],
            back_after_restart=back,
            all_refused=refused,
        )
    finally:
        site.stop()
