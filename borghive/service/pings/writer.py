"""Client reports into the store: the rows, the duration of a run, its event, and the bound
on what one repository keeps, all in one transaction per batch.

Driver failures become :class:`StoreUnavailableError`, so the daemon keeps its reports
and tries again later. Reports of a repository deleted meanwhile are dropped (counted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from peewee import DatabaseError, InterfaceError, OperationalError, fn

from borghive.service.pings.records import EVENT_OF_KIND, Report, event_detail
from borghive.store import rows, store_errors, write_transaction_within
from borghive.store.models import ClientReport, Event, Repository

_CHUNK = 500


class RejectedError(Exception):
    """The store refused a row of the batch for what it holds (not for being away): the
    caller writes the reports one at a time and drops the one refused."""


@dataclass(frozen=True)
class Written:
    """How many reports of a batch were stored, and how many named a repository that is
    gone."""

    stored: int
    gone: int


def write_reports(reports: Sequence[Report], *, keep: int, wait: float) -> Written:
    """Store ``reports`` (in order) with their events, then delete all but the newest
    ``keep`` reports of each repository they name; waits at most about ``wait`` seconds
    for the store's lock. Raises StoreUnavailableError when the store is away or locked,
    RejectedError when it refused a row; nothing is stored then."""
    try:
        with store_errors(), write_transaction_within(wait):
            return _write(reports, keep)
    except (OperationalError, InterfaceError):  # store_errors made these StoreUnavailable
        raise
    except DatabaseError as exc:
        raise RejectedError(type(exc).__name__) from exc


def _write(reports: Sequence[Report], keep: int) -> Written:
    wanted = sorted({report.repository_id for report in reports})
    existing: set[int] = set()
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        query = Repository.select(Repository.id).where(Repository.id.in_(chunk))
        existing.update(int(repo_id) for (repo_id,) in rows(query))
    kept = [report for report in reports if report.repository_id in existing]
    report_rows: list[dict[str, object]] = []
    event_rows: list[dict[str, object]] = []
    for report in kept:
        # A run's start may be in this batch: insert what came before an end first.
        duration = None
        if report.kind in ("success", "fail"):
            _insert(report_rows, event_rows)
            duration = _duration(report)
        report_rows.append(
            {
                "repository": report.repository_id,
                "received": report.received,
                "kind": report.kind,
                "run_id": report.run_id,
                "exit_status": report.exit_status,
                "duration": duration,
                "body": report.body,
                "body_truncated": report.body_truncated,
                "source": report.source,
            }
        )
        event = EVENT_OF_KIND.get(report.kind)
        if event is not None:
            event_rows.append(
                {
                    "repository": report.repository_id,
                    "kind": event,
                    "time": report.received,
                    "detail": event_detail(report, duration),
                    "source": report.source,
                }
            )
    _insert(report_rows, event_rows)
    _prune(sorted(existing), keep)
    return Written(len(kept), len(reports) - len(kept))


def _insert(report_rows: list[dict[str, object]], event_rows: list[dict[str, object]]) -> None:
    """Insert the rows gathered so far (in order) and empty the lists."""
    for start in range(0, len(report_rows), 100):
        ClientReport.insert_many(report_rows[start : start + 100]).execute()
    for start in range(0, len(event_rows), 100):
        Event.insert_many(event_rows[start : start + 100]).execute()
    report_rows.clear()
    event_rows.clear()


def _duration(report: Report) -> float | None:
    """Seconds from the start of the same run to ``report``: the run's latest start, with
    the same run id (or, without one, the latest start without one), when no success or
    fail came after it."""
    run = (
        ClientReport.run_id.is_null()
        if report.run_id is None
        else (ClientReport.run_id == report.run_id)
    )
    latest = (
        ClientReport.select(ClientReport.kind, ClientReport.received)
        .where(
            (ClientReport.repository == report.repository_id)
            & run
            & ClientReport.kind.in_(("start", "success", "fail"))
        )
        .order_by(ClientReport.id.desc())
        .limit(1)
    )
    found = rows(latest)
    if not found or found[0][0] != "start":
        return None
    seconds: float = (report.received - found[0][1]).total_seconds()
    return max(0.0, seconds)


def _prune(repo_ids: list[int], keep: int) -> None:
    """Delete all but the newest ``keep`` reports of each of these repositories, in one
    statement per chunk (a window function: SQLite 3.25 and PostgreSQL have them)."""
    for start in range(0, len(repo_ids), _CHUNK):
        chunk = repo_ids[start : start + _CHUNK]
        newest = fn.ROW_NUMBER().over(
            partition_by=[ClientReport.repository], order_by=[ClientReport.id.desc()]
        )
        ranked = (
            ClientReport.select(ClientReport.id, newest.alias("newest"))
            .where(ClientReport.repository.in_(chunk))
            .alias("ranked")
        )
        older = ClientReport.select(ranked.c.id).from_(ranked).where(ranked.c.newest > keep)
        ClientReport.delete().where(ClientReport.id.in_(older)).execute()
