"""What ``alert check`` reads of the client reports: for every repository with reports, its
first report and last success, the reports since that success (without their logs), and
the log of the newest failure among them, in three plain queries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from borghive.rules.logtail import log_tail
from borghive.rules.times import stored_time
from borghive.service.alerts.client import (
    ClientFacts,
    ReportSummary,
    is_failure,
    oldest_open_start,
)
from borghive.service.reports.bodies import body_column, body_text
from borghive.store import execute, raw_rows
from borghive.store.models import ClientReport, Repository, database

_CHUNK = 250  # repositories per query: two parameters each in the second


def _success(model: Any) -> Any:
    """:func:`~borghive.service.alerts.client.is_success` as SQL on ``model``."""
    return (model.kind == "success") & (model.exit_status.is_null() | (model.exit_status == 0))


def reporting_query() -> Any:
    """A query of the ids of the repositories that have any client report."""
    return ClientReport.select(ClientReport.repository).distinct()


def reporting_repositories() -> set[int]:
    """The ids of the repositories that have any client report."""
    return {i for (i,) in raw_rows(reporting_query())}


def _later_reports(cuts: list[tuple[int, Any]], never: list[int]) -> list[tuple[Any, ...]]:
    """The reports (but logs) of each repository of ``cuts`` received after its cut (its
    last success, as the driver returned it: exactly what is stored, also SQLite's text),
    and all of those of ``never``, by repository and time. One index range per repository;
    written out, since peewee took 50 ms to build the 250 terms (and a join on the grouped
    successes made PostgreSQL read every report)."""
    mark = database.obj.param
    terms = [f"(repository_id = {mark} AND received > {mark})"] * len(cuts)
    params: list[Any] = [value for cut in cuts for value in cut]
    if never:
        terms.append(f"repository_id IN ({', '.join([mark] * len(never))})")
        params.extend(never)
    condition = " OR ".join(terms)  # placeholders only: the values go as parameters
    sql = (
        "SELECT repository_id, id, received, kind, run_id, exit_status, duration, source "  # noqa: S608
        f"FROM client_report WHERE kind <> 'log' AND ({condition}) "
        "ORDER BY repository_id, received, id"
    )
    return list(execute(sql, tuple(params)).fetchall())


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
    cuts: list[tuple[int, Any]] = []  # (repository, its last success as stored)
    never: list[int] = []  # repositories without a success: all their reports
    # Per repository its first report and its newest success, each one step down the
    # (repository, received) index: a GROUP BY would read every report (600,000 in
    # benchmarks/bench_alerts.py --reports 30) at every check.
    oldest, newest = report.alias("oldest"), report.alias("newest")
    first_report = (
        oldest.select(oldest.received)
        .where(oldest.repository == Repository.id)
        .order_by(oldest.received)
        .limit(1)
    )
    last_success = (
        newest.select(newest.received)
        .where((newest.repository == Repository.id) & _success(newest))
        .order_by(newest.received.desc())
        .limit(1)
    )
    summary = Repository.select(Repository.id, first_report, last_success).where(
        Repository.id.in_(repo_ids)
    )
    for repo_id, first, succeeded in raw_rows(summary):
        if first is None:  # no report (any more)
            continue
        firsts[repo_id] = (stored_time(first), stored_time(succeeded))
        if succeeded is None:
            never.append(repo_id)
        else:
            cuts.append((repo_id, succeeded))
    if not cuts and not never:  # deleted since the repositories were listed
        return {}
    # The reports after each repository's last success: what failed and which runs are
    # still open (a log report says neither).
    rows = _later_reports(cuts, never)
    since: dict[int, list[tuple[int, ReportSummary]]] = {}
    for repo_id, report_id, received, kind, run_id, status, duration, source in rows:
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
    for repo_id, (first, success_time) in firsts.items():
        later_rows = [r for _, r in since.get(repo_id, [])]
        failures = [r for r in later_rows if is_failure(r.kind, r.exit_status)]
        failure = newest_failure.get(repo_id)
        log, shortened = logs.get(failure[0], ("", False)) if failure else ("", False)
        result[repo_id] = ClientFacts(
            first_report=first,
            last_success=success_time,
            failing_since=failures[0].received if failures else None,
            failure=failure[1] if failure else None,
            log=log,
            log_shortened=shortened,
            open_run=oldest_open_start(later_rows),
        )
    return result
