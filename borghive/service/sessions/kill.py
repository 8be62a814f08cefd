"""Ending a client session (``borghive session kill``): the process is checked to be what
``session list`` showed (a borghive-marked borg or rrsync process of that repository's
user, started at the same moment) through a pidfd, so that nothing else is ever signalled
even if the pid is reused meanwhile; SIGTERM, a bounded wait, SIGKILL. Then, in one
transaction, the session's row is ended (``killed``), an event ``session-killed`` and a
maintenance run ``kill`` are recorded.

A borg killed while holding the lock leaves it behind; its holder is dead on this host, so
borg 1.2 and later remove that stale lock at the next access.
"""

from __future__ import annotations

import datetime as dt
import os
import select
import signal
from dataclasses import dataclass

from borghive.config import Config
from borghive.errors import InvalidInputError, NotFoundError, RefusedError
from borghive.rules.times import aware, from_epoch, utcnow
from borghive.service.sessions.live import Found, LiveSession, find_live
from borghive.sessions.locks import host_name, lock_holders
from borghive.sessions.procs import innermost_pid, process_info
from borghive.store import write_transaction
from borghive.store.models import BorgSession, Event, MaintenanceRun, SshKey

TERM_GRACE = 10.0  # seconds borg gets to end after SIGTERM before SIGKILL
KILL_WAIT = 5.0  # seconds to wait for the process to go after SIGKILL
PID_LIMIT = 2**31 - 1  # beyond any pid or session id: a bigger number names nothing
CLIENT_PROGRAMS = ("borg", "borg.exe", "rrsync")


@dataclass(frozen=True)
class KilledSession:
    """A session ended: by which signal, and whether its lock is left stale."""

    session: LiveSession
    signal: str
    lock_left: bool
    ended: dt.datetime


def parse_target(text: str) -> int:
    """SESSION as typed: a session id or pid, a whole number from 1 to 2147483647.
    Raises InvalidInputError."""
    value = text.strip()
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= PID_LIMIT:
        raise InvalidInputError(
            f"session {text!r}: not a session id or pid (a whole number from 1 to {PID_LIMIT})",
            hint="borghive session list shows them",
        )
    return int(value)


def _select(config: Config, target: int | None, repository: str | None) -> list[Found]:
    live = find_live(config, repository)
    if target is None:
        chosen = [
            found
            for found in live
            if found.process.is_client and found.process.program in CLIENT_PROGRAMS
        ]
        if not chosen:
            raise NotFoundError(f"repository {repository}: no live client session on this host")
        return chosen
    by_id = [found for found in live if found.view.session == target]
    chosen = by_id or [found for found in live if found.view.pid == target]
    if not chosen:
        raise NotFoundError(
            f"session {target}: no live borg session of a repository has that id or pid "
            "on this host",
            hint="borghive session list shows them",
        )
    process = chosen[0].process
    if not process.is_client:
        raise RefusedError(f"session {target}: pid {process.pid} is maintenance, not a client")
    if process.program not in CLIENT_PROGRAMS:
        raise RefusedError(
            f"session {target}: pid {process.pid} runs {process.program!r}, not borg or rrsync"
        )
    return chosen[:1]


def _same_process(found: Found) -> bool:
    """Whether the pid still is that session: same owner, start, marker and program."""
    now = process_info(found.process.pid)
    return (
        now is not None
        and now.uid == found.uid
        and now.started == found.process.started
        and now.key_fingerprint is not None
        and now.key_fingerprint == found.process.key_fingerprint
        and now.program in CLIENT_PROGRAMS
    )


def _wait(descriptor: int, seconds: float) -> bool:
    """Whether the process behind the pidfd ended within ``seconds``."""
    readable, _, _ = select.select([descriptor], [], [], seconds)
    return bool(readable)


def _signal(found: Found, grace: float) -> str:
    """SIGTERM, then SIGKILL after ``grace`` seconds; returns the last signal sent."""
    try:
        descriptor = os.pidfd_open(found.process.pid)
    except ProcessLookupError:
        raise NotFoundError(f"session pid {found.process.pid}: ended meanwhile") from None
    try:
        # Checked with the pidfd open: the pid cannot be reused while it is held.
        if not _same_process(found):
            raise RefusedError(
                f"pid {found.process.pid} is no longer the session listed; nothing signalled"
            )
        signal.pidfd_send_signal(descriptor, signal.SIGTERM)
        if _wait(descriptor, grace):
            return "SIGTERM"
        signal.pidfd_send_signal(descriptor, signal.SIGKILL)
        _wait(descriptor, KILL_WAIT)
        return "SIGKILL"
    finally:
        os.close(descriptor)


def _record(found: Found, sent: str, started: dt.datetime, ended: dt.datetime) -> None:
    info, view = found.process, found.view
    host = host_name()
    begun = from_epoch(info.started)
    with write_transaction():
        row = BorgSession.get_or_none(
            (BorgSession.host == host)
            & (BorgSession.pid == info.pid)
            & (BorgSession.started == begun)
        )
        if row is None:
            key = SshKey.get_or_none(SshKey.fingerprint == info.key_fingerprint)
            row = BorgSession.create(
                repository=found.repository_id, key=key, key_name=view.key_name,
                key_fingerprint=info.key_fingerprint, source=info.source,
                source_port=info.source_port, host=host, pid=info.pid, program=info.program,
                started=begun,
            )  # fmt: skip
        if row.ended is None:
            BorgSession.update(ended=ended, end_reason="killed").where(
                BorgSession.id == row.id
            ).execute()
        detail = f"pid {info.pid} ({view.program}) ended by {sent}"
        Event.create(
            repository=found.repository_id, kind="session-killed", time=ended, detail=detail,
            session=row.id, key_name=view.key_name, source=view.source,
        )  # fmt: skip
        MaintenanceRun.create(
            repository=found.repository_id, action="kill", host=host, pid=os.getpid(),
            started=started, finished=ended, result="ok",
            detail=f"session {row.id}: {detail}",
        )  # fmt: skip


def kill_sessions(
    config: Config,
    target: str | None = None,
    repository: str | None = None,
    *,
    grace: float = TERM_GRACE,
) -> list[KilledSession]:
    """End the session ``target`` (id or pid, as ``session list`` shows it) or every client
    session of ``repository``. Raises InvalidInputError (malformed target), NotFoundError
    (no such live session, unknown repository) or RefusedError (a maintenance process, or
    the pid no longer is that session: then nothing was signalled)."""
    number = None if target is None else parse_target(target)
    killed: list[KilledSession] = []
    for found in _select(config, number, repository):
        # Before the signal: a dead process has no pid namespace left to ask.
        pids = {found.process.pid, innermost_pid(found.process.pid) or found.process.pid}
        started = utcnow()
        sent = _signal(found, grace)
        ended = utcnow()
        _record(found, sent, started, ended)
        left = any(holder.pid in pids for holder in lock_holders(found.path))
        killed.append(KilledSession(found.view, sent, left, aware(ended)))
    return killed
