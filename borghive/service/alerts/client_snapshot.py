"""What ``alert check`` reads of the client reports: for every repository with reports, its
first report and last success, the reports since that success (without their logs), and
the log of the newest failure among them, in three plain queries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from peewee import Case, fn

from borghive.rules.logtail import log_tail
from borghive.rules.times import stored_time
from borghive.service.alerts.client import (
    ClientFacts,
    ReportSummary,
    is_failure,
    oldest_open_start,
)
from borghive.service.reports.bodies import body_column, body_text
from borghive.store import raw_rows
from borghive.store.models import ClientReport

_CHUNK = 250  # repositories per query: two parameters each in the second


def _success(model: Any) -> Any:
    return (model.kind == "success") & (model.exit_status.is_null() | (model.exit_status == 0))


def reporting_query() -> Any:
    """A query of the ids of the repositories that have any client report."""
    return ClientReport.select(ClientReport.repository).distinct()


def reporting_repositories() -> set[int]:
    """The ids of the repositories that have any client report."""
    return {i for (i,) in raw_rows(reporting_query())}


def _any(terms: list[Any]) -> Any:
    """``terms`` joined by OR as a balanced tree: a chain of 500 would nest peewee's SQL
    generation 500 calls deep."""
    if len(terms) == 1:
        return terms[0]
    middle = len(terms) // 2
    return _any(terms[:middle]) | _any(terms[middle:])


def load_client_facts(repo_ids: Iterable[int]) -> dict[int, ClientFacts]:
    """:class:`ClientFacts` of each of ``repo_ids`` that has reports."""
    wanted = sorted(set(repo_ids))
    facts: dict[int, ClientFacts] = {}
    for start in range(0, len(wanted), _CHUNK):
        facts.update(_load(wanted[start : start + _CHUNK]))
    return facts


def _load(repo_ids: list[int]) -> dict[int, ClientFacts]:
    report = ClientReport
    firsts: dict[int, tuple[dt.datetime, dt.datetime | None]] = {}
    after: list[Any] = []  # per repository: its reports after its last success
    never: list[int] = []  # repositories without a success: all their reports
    summary = (
        report.select(
            report.repository,
            fn.MIN(report.received),
            fn.MAX(Case(None, [(_success(report), report.received)], None)),
        )
        .where(report.repository.in_(repo_ids))
        .group_by(report.repository)
    )
    for repo_id, first, last_success in raw_rows(summary):
        firsts[repo_id] = (stored_time(first), stored_time(last_success))
        if last_success is None:
            never.append(repo_id)
        else:  # the driver's own value back: exactly what is stored, also SQLite's text
            after.append((report.repository == repo_id) & (report.received > last_success))
    if never:
        after.append(report.repository.in_(never))
    if not after:  # deleted since the repositories were listed
        return {}
    # The reports after each repository's last success: what failed and which runs are
    # still open (a log report says neither). One index range per repository: a join on
    # the grouped successes made PostgreSQL scan them all, 0.25 s per 500 repositories.
    query = (
        report.select(
            report.repository,
            report.id,
            report.received,
            report.kind,
            report.run_id,
            report.exit_status,
            report.duration,
            report.source,
        )
        .where(_any(after) & (report.kind != "log"))
        .order_by(report.repository, report.received, report.id)
    )
    since: dict[int, list[tuple[int, ReportSummary]]] = {}
    for repo_id, report_id, received, kind, run_id, status, duration, source in raw_rows(query):
        summary_row = ReportSummary(stored_time(received), kind, run_id, status, duration, source)
        since.setdefault(repo_id, []).append((report_id, summary_row))
    newest_failure: dict[int, tuple[int, ReportSummary]] = {}
    for repo_id, numbered in since.items():
        failed = [(i, r) for i, r in numbered if is_failure(r.kind, r.exit_status)]
        if failed:
            newest_failure[repo_id] = failed[-1]
    logs: dict[int, tuple[str, bool]] = {}
    failure_ids = [i for i, _ in newest_failure.values()]
    if failure_ids:
        for report_id, body, truncated in raw_rows(
            report.select(report.id, body_column(report), report.body_truncated).where(
                report.id.in_(failure_ids)
            )
        ):
            excerpt, shortened = log_tail(body_text(body))
            logs[report_id] = (excerpt, shortened or bool(truncated))
    result: dict[int, ClientFacts] = {}
    for repo_id, (first, last_success) in firsts.items():
        later_rows = [r for _, r in since.get(repo_id, [])]
        failures = [r for r in later_rows if is_failure(r.kind, r.exit_status)]
        failure = newest_failure.get(repo_id)
        log, shortened = logs.get(failure[0], ("", False)) if failure else ("", False)
        result[repo_id] = ClientFacts(
            first_report=first,
            last_success=last_success,
            failing_since=failures[0].received if failures else None,
            failure=failure[1] if failure else None,
            log=log,
            log_shortened=shortened,
            open_run=oldest_open_start(later_rows),
        )
    return result
