"""Claiming a repository for one maintenance action: the maintenance_run row.

A unique partial index allows one unfinished run per repository, so inserting the row is
the claim, on SQLite and on PostgreSQL alike, from any number of hosts. A claim whose
process is gone on this host (it was killed, or the host rebooted) is closed as failed and
taken over; one held by a live process, or by another host, is a refusal naming it.
"""

from __future__ import annotations

import datetime as dt
import os

from peewee import IntegrityError

from borghive.errors import RefusedError
from borghive.rules.times import aware, utcnow
from borghive.sessions.locks import this_host_id
from borghive.sessions.procs import start_time
from borghive.store import write_transaction
from borghive.store.models import MaintenanceRun, Repository


def _describe(run: MaintenanceRun) -> str:
    since = aware(run.started)
    shown = since.strftime("%Y-%m-%d %H:%M UTC") if since else "?"
    return f"{run.action} by pid {run.pid} on {run.host} since {shown}"


def _abandoned(run: MaintenanceRun, host: str) -> bool:
    """Whether ``run`` was left by a process of this host that is gone (its pid is free,
    or now belongs to a process started after the run)."""
    if run.host != host:
        return False
    try:
        os.kill(run.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    started = start_time(run.pid)
    claimed = aware(run.started)
    if started is None or claimed is None:
        return started is None
    # The store keeps whole microseconds and /proc clock ticks: a second of slack.
    return started > claimed.timestamp() + 1.0


def _insert(repository: Repository, action: str, host: str) -> MaintenanceRun:
    with write_transaction():
        return MaintenanceRun.create(
            repository=repository.id, action=action, host=host, pid=os.getpid(), started=utcnow()
        )


def claim(repository: Repository, action: str, *, shown: str) -> MaintenanceRun:
    """Insert the unfinished run of ``action`` on ``repository``: the claim.

    Raises RefusedError naming the run that holds it (``shown``: the repository as the
    user names it); an abandoned claim of this host is closed as failed first."""
    host = this_host_id()
    try:
        return _insert(repository, action, host)
    except IntegrityError:
        pass
    holder = (
        MaintenanceRun.select()
        .where((MaintenanceRun.repository == repository.id) & MaintenanceRun.finished.is_null())
        .first()
    )
    if holder is not None and _abandoned(holder, host):
        with write_transaction():
            MaintenanceRun.update(
                finished=utcnow(),
                result="failed",
                detail=f"abandoned: process {holder.pid} ended without finishing; taken over",
            ).where((MaintenanceRun.id == holder.id) & MaintenanceRun.finished.is_null()).execute()
        try:
            return _insert(repository, action, host)
        except IntegrityError:
            holder = None  # someone else took it over at the same moment
    raise RefusedError(
        f"repository {shown}: maintenance is already running"
        + (f" ({_describe(holder)})" if holder is not None else ""),
        hint="wait for it to finish",
    )


def finish(
    run: MaintenanceRun, result: str, detail: str, *, bytes_freed: int | None = None
) -> dt.datetime:
    """Close ``run`` with ``result`` (ok, failed, refused); returns the finish time. Call
    inside the transaction that records the outcome."""
    finished = utcnow()
    MaintenanceRun.update(
        finished=finished, result=result, detail=detail[:4000], bytes_freed=bytes_freed
    ).where(MaintenanceRun.id == run.id).execute()
    return finished


def release(run: MaintenanceRun) -> None:
    """Remove a claim under which nothing was done (another host did the work first)."""
    with write_transaction():
        MaintenanceRun.delete().where(MaintenanceRun.id == run.id).execute()
