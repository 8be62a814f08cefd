"""``borghive repo reports``: what a repository's client said about its runs."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from borghive.cli.app import store_session
from borghive.cli.options import JsonOption
from borghive.cli.render import emit_json, say, table, when
from borghive.cli.usage import within
from borghive.rules.logtail import clean_lines, one_line
from borghive.rules.quantities import format_duration, parse_duration
from borghive.service.reports import listing
from borghive.service.reports.listing import REPORT_LIMIT, ReportInfo
from borghive.service.repositories.view import RepoDetail


def _duration(value: float | None) -> str:
    return "-" if value is None else format_duration(round(value))


def _row(report: ReportInfo) -> tuple[str, ...]:
    return (
        when(report.received),
        report.kind,
        one_line(report.run_id or "") or "-",
        "-" if report.exit_status is None else str(report.exit_status),
        _duration(report.duration),
        one_line(report.source or "") or "-",
    )


def reports(
    ctx: typer.Context,
    repository: Annotated[
        str, typer.Argument(help="The repository: OWNER/NAME or its repository user name.")
    ],
    since: Annotated[
        str, typer.Option("--since", help="Only reports received in this recent period: 7d, 12h.")
    ] = "30d",
    limit: Annotated[
        int,
        typer.Option(
            "--limit",
            help=f"At most this many reports, the newest ({REPORT_LIMIT.words}).",
            callback=within(REPORT_LIMIT),
        ),
    ] = 50,
    log: Annotated[
        bool,
        typer.Option("--log", help="Also print each report's log (cleaned of control characters)."),
    ] = False,
    json: JsonOption = False,
) -> None:
    """List the reports a repository's client sent (borghive pings), newest first: time,
    kind, run id, exit status, duration and source address."""
    seconds = parse_duration(since)
    with store_session(ctx, readonly=True):
        result = listing.list_reports(
            repository, since=seconds, limit=limit, with_log=log, now=dt.datetime.now(dt.UTC)
        )
    if json:
        emit_json(result)
        return
    reference = f"{result.owner}/{result.name}"
    if not result.reports:
        say(f"no client reports for {reference} since {when(result.since)}")
        return
    columns = ["received", "kind", "run id", "exit", "duration", "source"]
    if not log:
        table(f"Client reports of {reference}", columns, [_row(r) for r in result.reports])
        return
    for report in result.reports:
        say("  ".join(_row(report)))
        lines = clean_lines(report.log or "")
        for line in lines or ["(no log)"]:
            say(f"    {line}")
        if report.body_truncated:
            say("    (cut to pings.body_limit by the server)")


def register(repo_app: typer.Typer) -> None:
    """Add ``reports`` to the ``repo`` command group."""
    repo_app.command("reports")(reports)


def client_fields(detail: RepoDetail) -> list[tuple[str, str | None]]:
    """``repo show``'s lines about the client: its last report (kind, time, exit status)
    and the last session the server saw (start, end, key, source)."""
    report, session = detail.last_report, detail.last_session
    reported = None
    if report is not None:
        status = "" if report.exit_status is None else f", exit status {report.exit_status}"
        reported = f"{report.kind} {when(report.received)}{status}"
    seen = None
    if session is not None:
        end = (
            "running"
            if session.ended is None
            else f"ended {when(session.ended)} ({session.end_reason or 'closed'})"
        )
        by = f" by key {session.key_name}" if session.key_name else ""
        source = f" from {session.source}" if session.source else ""
        seen = f"started {when(session.started)}, {end}{by}{source}"
    return [("last client report", reported), ("last session", seen)]
