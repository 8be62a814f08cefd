"""Reading client reports: a repository's reports, newest first (``repo reports``), and
the last client report and last server-observed session (``repo show``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from borghive.errors import InvalidInputError
from borghive.rules.bounds import Bound
from borghive.rules.times import stored_time, to_store
from borghive.service.reports.bodies import body_column, body_text
from borghive.service.repositories.lifecycle import find_repository
from borghive.store import raw_rows
from borghive.store.models import BorgSession, ClientReport

# How many reports one listing shows at most: enough for a year of nightly runs with their
# starts, few enough that --log stays readable (each log is up to pings.body_limit).
REPORT_LIMIT = Bound(1, 10_000, unit="reports")


@dataclass(frozen=True)
class ReportInfo:
    """One client report. ``log`` is the stored body (None unless asked for);
    ``body_truncated`` says the daemon cut it to pings.body_limit."""

    received: dt.datetime
    kind: str
    run_id: str | None
    exit_status: int | None
    duration: float | None
    source: str | None
    body_truncated: bool
    log: str | None = None


@dataclass(frozen=True)
class ReportListing:
    owner: str
    name: str
    since: dt.datetime
    reports: tuple[ReportInfo, ...]


@dataclass(frozen=True)
class SessionInfo:
    """The newest borg session the server saw for a repository (``borg_session``)."""

    started: dt.datetime
    ended: dt.datetime | None
    end_reason: str | None
    key_name: str | None
    source: str | None
    committed: bool


def _columns(with_log: bool) -> list[Any]:
    report = ClientReport
    columns: list[Any] = [
        report.received,
        report.kind,
        report.run_id,
        report.exit_status,
        report.duration,
        report.source,
        report.body_truncated,
    ]
    if with_log:
        columns.append(body_column(report))
    return columns


def _info(row: tuple[Any, ...], with_log: bool) -> ReportInfo:
    received, kind, run_id, status, duration, source, truncated = row[:7]
    return ReportInfo(
        received=stored_time(received),
        kind=kind,
        run_id=run_id,
        exit_status=status,
        duration=duration,
        source=source,
        body_truncated=bool(truncated),
        log=body_text(row[7]) if with_log else None,
    )


def list_reports(
    reference: str, *, since: int, limit: int, with_log: bool, now: dt.datetime
) -> ReportListing:
    """The reports of repository ``reference`` received in the last ``since`` seconds
    before ``now`` (aware UTC), newest first, at most ``limit`` (within
    :data:`REPORT_LIMIT`), with their logs when ``with_log``. Raises NotFoundError for an
    unknown repository, InvalidInputError for a limit out of bounds."""
    if not REPORT_LIMIT.holds(limit):
        raise InvalidInputError(f"invalid limit {limit}: must be {REPORT_LIMIT.words}")
    repo = find_repository(reference)
    start = now - dt.timedelta(seconds=since)
    query = (
        ClientReport.select(*_columns(with_log))
        .where((ClientReport.repository == repo.id) & (ClientReport.received >= to_store(start)))
        .order_by(ClientReport.received.desc(), ClientReport.id.desc())
        .limit(limit)
    )
    reports = tuple(_info(row, with_log) for row in raw_rows(query))
    return ReportListing(repo.owner.name, repo.name, start, reports)


def last_report(repo_id: int) -> ReportInfo | None:
    """The newest client report of a repository (without its log), or None."""
    query = (
        ClientReport.select(*_columns(False))
        .where(ClientReport.repository == repo_id)
        .order_by(ClientReport.received.desc(), ClientReport.id.desc())
        .limit(1)
    )
    found = raw_rows(query)
    return _info(found[0], False) if found else None


def last_session(repo_id: int) -> SessionInfo | None:
    """The newest session the server recorded for a repository, or None (none yet)."""
    session = BorgSession
    query = (
        session.select(
            session.started,
            session.ended,
            session.end_reason,
            session.key_name,
            session.source,
            session.committed,
        )
        .where(session.repository == repo_id)
        .order_by(session.started.desc(), session.id.desc())
        .limit(1)
    )
    found = raw_rows(query)
    if not found:
        return None
    started, ended, reason, key_name, source, committed = found[0]
    return SessionInfo(
        stored_time(started), stored_time(ended), reason, key_name, source, bool(committed)
    )
