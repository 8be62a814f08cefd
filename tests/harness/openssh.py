"""Which OpenSSH this machine has, and the sshd settings the test login host needs for it.

OpenSSH 9.8 added per-source penalties, on by default: after a few refused logins from one
address, sshd drops every new connection from it for a while ("activating ipv4 penalty").
The tests refuse logins from 127.0.0.1 on purpose, many times, so the login host turns the
penalties off where sshd knows them. Older sshd (Debian 12's 9.2) refuses the keyword as
a fatal configuration error, so it is written only for 9.8 and later.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess

PENALTIES_SINCE = (9, 8)

# "OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15 3 Sep 2024", "OpenSSH_10.0p2 Debian-7",
# "OpenSSH_9.2, OpenSSL ..." (sshd -V prints no portable suffix).
_VERSION = re.compile(r"\bOpenSSH_(\d+)\.(\d+)")


def parse_version(text: str) -> tuple[int, int] | None:
    """(major, minor) of the first ``OpenSSH_X.Y`` in ``text`` (what ``ssh -V`` and
    ``sshd -V`` print on stderr), or None when there is none."""
    found = _VERSION.search(text)
    return (int(found.group(1)), int(found.group(2))) if found else None


def penalty_settings(version: tuple[int, int] | None) -> str:
    """sshd_config lines for an sshd of ``version``: ``PerSourcePenalties no`` from 9.8 on,
    nothing before (or when the version is unknown: an older sshd would not start)."""
    if version is not None and version >= PENALTIES_SINCE:
        return "PerSourcePenalties no\n"
    return ""


@functools.cache
def installed_version(sshd: str = "/usr/sbin/sshd") -> tuple[int, int] | None:
    """The version of ``sshd`` (``sshd -V``; an sshd without -V names its version in the
    usage text it prints instead), else of the ``ssh`` client (the same OpenSSH release on
    Debian); None when neither names one."""
    for command in ([sshd, "-V"], [shutil.which("ssh") or "ssh", "-V"]):
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        version = parse_version(done.stderr + done.stdout)
        if version is not None:
            return version
    return None
