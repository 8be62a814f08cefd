"""Who holds a repository's lock, in words an admin can act on.

A holder is a client session when its process carries the forced command's key marker:
it is named by its pid, key (looked up by fingerprint), source address and start. A
holder that is dead on this host is stale (borg itself removes such a lock at the next
access); one on another host cannot be judged from here.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from borghive.sessions.locks import LockHolder, holder_state, lock_holders
from borghive.sessions.procs import ProcessInfo, marked_processes, process_info
from borghive.store.models import SshKey, User


@dataclass(frozen=True)
class HeldLock:
    """One holder and what is known of it: ``state`` alive, dead or elsewhere;
    ``client`` whether it is a borghive client session; ``description`` one phrase."""

    holder: LockHolder
    state: str
    client: bool
    description: str


def _key_name(fingerprint: str) -> str:
    key = SshKey.select(SshKey, User).join(User).where(SshKey.fingerprint == fingerprint).first()
    if key is None:
        return f"unknown key {fingerprint[:60]}"
    return f"key {key.owner.name}/{key.name}"


def _since(info: ProcessInfo) -> str:
    moment = dt.datetime.fromtimestamp(info.started, dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _describe(holder: LockHolder, state: str, info: ProcessInfo | None) -> str:
    if state == "elsewhere":
        return f"a borg process on another host ({holder.host[:80]}, pid {holder.pid})"
    if state == "dead":
        return f"pid {holder.pid}, which is gone"
    if info is None:
        return f"pid {holder.pid}"
    if info.key_fingerprint is not None:
        source = f" from {info.source}" if info.source else ""
        return (
            f"client session pid {info.pid}, {_key_name(info.key_fingerprint)}{source}, "
            f"since {_since(info)}"
        )
    if info.maintenance is not None:
        return f"maintenance ({info.maintenance[:20]}) pid {info.pid} since {_since(info)}"
    return f"{info.program or 'a process'} pid {info.pid} (not a borghive session)"


def held_locks(path: Path) -> list[HeldLock]:
    """Every holder of the lock of the repository at ``path``, described."""
    found: list[HeldLock] = []
    for holder in lock_holders(path):
        state = holder_state(holder)
        info = process_info(holder.pid) if state == "alive" else None
        client = info is not None and info.key_fingerprint is not None
        found.append(HeldLock(holder, state, client, _describe(holder, state, info)))
    return found


def session_behind(held: list[HeldLock], uid: int) -> HeldLock | None:
    """A live client session of ``uid`` standing for lock holders that look dead.

    A holder's pid is the one borg saw: a borg serve in another pid namespace (a
    container, a jailed sshd) names a pid that is free, or someone else's, out here, and
    borg itself would remove such a lock as stale. While the lock is there and a session
    of the repository user runs, that session is taken to hold it."""
    if not held:
        return None
    sessions = [info for info in marked_processes({uid}) if info.is_client]
    if not sessions:
        return None
    first = sessions[0]
    holder = LockHolder(held[0].holder.host, first.pid, 0, "exclusive")
    return HeldLock(holder, "alive", True, _describe(holder, "alive", first))


def live_holder(path: Path, uid: int) -> HeldLock | None:
    """The first holder that is not known to be dead (a client first), else a session of
    the repository user ``uid`` behind dead-looking holders (:func:`session_behind`)."""
    held = held_locks(path)
    holders = [entry for entry in held if entry.state != "dead"]
    holders.sort(key=lambda entry: not entry.client)
    return holders[0] if holders else session_behind(held, uid)


def user_has_processes(uid: int) -> bool:
    """Whether any process of ``uid`` runs on this host (/proc owners)."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return False
    for name in names:
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    return True
            except OSError:
                continue
    return False
