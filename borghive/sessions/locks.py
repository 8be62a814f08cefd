"""borg 1.x repository locks, read from disk without taking them.

borg 1.2 and 1.4 (``src/borg/locking.py``) hold an exclusive lock as a directory
``lock.exclusive`` with one empty file ``<host id>.<pid>-<thread id in hex>`` in it, and keep
every holder, shared and exclusive, in ``lock.roster``: JSON ``{"shared": [[host, pid,
thread], …], "exclusive": [[host, pid, thread]]}``. The host id is ``<fqdn>@<uuid.getnode()>``
unless ``BORG_HOST_ID`` is set.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path

EXCLUSIVE_DIR = "lock.exclusive"
ROSTER_FILE = "lock.roster"
_ROSTER_LIMIT = 1 << 20  # a roster is a few hundred bytes; anything bigger is not borg's


@dataclass(frozen=True, order=True)
class LockHolder:
    """One holder of a repository lock: ``exclusive`` or ``shared``."""

    host: str
    pid: int
    thread: int
    kind: str

    @property
    def name(self) -> str:
        """The holder as borg names it in lock.exclusive: ``<host>.<pid>-<thread hex>``."""
        return f"{self.host}.{self.pid}-{self.thread:x}"


def parse_holder_name(name: str) -> tuple[str, int, int] | None:
    """``<host>.<pid>-<thread hex>`` → (host, pid, thread), or None when it is not one."""
    host, dot, rest = name.rpartition(".")
    pid_text, dash, thread_text = rest.partition("-")
    if not (dot and dash and host and pid_text.isdigit() and thread_text):
        return None
    try:
        thread = int(thread_text, 16)
    except ValueError:
        return None
    return host, int(pid_text), thread


def _roster_holders(path: Path) -> list[LockHolder]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        return []
    try:
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return []
            content = handle.read(_ROSTER_LIMIT + 1)
        if len(content) > _ROSTER_LIMIT:
            return []
        data = json.loads(content or b"{}")
    except (OSError, ValueError, RecursionError):
        return []
    holders: list[LockHolder] = []
    if not isinstance(data, dict):
        return holders
    for kind in ("exclusive", "shared"):
        entries = data.get(kind)
        if not isinstance(entries, list):
            continue
        for entry in entries:
            if (
                isinstance(entry, list)
                and len(entry) == 3
                and isinstance(entry[0], str)
                and type(entry[1]) is int
                and type(entry[2]) is int
            ):
                holders.append(LockHolder(entry[0], entry[1], entry[2], kind))
    return holders


def lock_holders(repository: Path) -> list[LockHolder]:
    """Every holder of ``repository``'s lock, sorted, without duplicates: the files in
    ``lock.exclusive`` and the entries of ``lock.roster``. Empty when unlocked or
    unreadable (a lock being taken or released at that moment reads as either)."""
    found: set[LockHolder] = set(_roster_holders(repository / ROSTER_FILE))
    try:
        names = os.listdir(repository / EXCLUSIVE_DIR)
    except OSError:
        names = []
    for name in names:
        parsed = parse_holder_name(name)
        if parsed is not None:
            found.add(LockHolder(*parsed, "exclusive"))
    # The same holder in both places is one holder.
    unique: dict[tuple[str, int, int], LockHolder] = {}
    for holder in sorted(found):
        unique.setdefault((holder.host, holder.pid, holder.thread), holder)
    return sorted(unique.values())


def is_locked(repository: Path) -> bool:
    """Whether anything (even a name borg would not write) is in the lock's places."""
    return (repository / EXCLUSIVE_DIR).exists() or (repository / ROSTER_FILE).exists()


def host_name() -> str:
    """This host's name, as borghive records it (borg_session.host, maintenance_run.host)."""
    return socket.gethostname()


@cache
def this_host_id() -> str:
    """This host's id as borg computes it (``BORG_HOST_ID``, else ``<fqdn>@<node>``); once
    per process, as borg does: the name lookup can take a while."""
    configured = os.environ.get("BORG_HOST_ID")
    if configured:
        return configured
    # borg's own getfqdn (platform/base.py), not socket.getfqdn, which differs: the first
    # canonical name getaddrinfo gives for the host name.
    name = socket.gethostname()
    try:
        addresses = socket.getaddrinfo(name, None, 0, socket.SOCK_DGRAM, 0, socket.AI_CANONNAME)
    except OSError:
        addresses = []
    for address in addresses:
        if address[3]:
            name = address[3]
            break
    return f"{name}@{uuid.getnode()}"


def holder_state(holder: LockHolder, host_id: str | None = None) -> str:
    """``alive``, ``dead`` (on this host and its process is gone) or ``elsewhere`` (names
    another host: nothing here can tell whether it lives)."""
    if holder.host != (host_id or this_host_id()):
        return "elsewhere"
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return "dead"
    except PermissionError:
        return "alive"
    return "alive"
