"""``borghive stats``: collect repository usage, show it, prune it, export it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from borghive.cli.app import state, store_session
from borghive.cli.options import JsonOption
from borghive.cli.render import console, counted, emit_json, say, table, when
from borghive.cli.usage import exclusive, within
from borghive.rules.bounds import JOBS, KEEP_ALL_DAYS, WALK_TIME_LIMIT
from borghive.rules.quantities import format_age, format_size, parse_duration
from borghive.service.stats import collect as stats
from borghive.service.stats import export as stats_export
from borghive.service.stats import report as stats_report
from borghive.service.stats.collect import CollectedRepository, Retention

if TYPE_CHECKING:
    from rich.text import Text

    from borghive.service.stats.report import RepositoryStats

app = typer.Typer(
    help="Repository usage: collect it from disk, show it, prune it, export it.",
    no_args_is_help=True,
)

KeepAllDaysOption = Annotated[
    int | None,
    typer.Option(
        "--keep-all-days",
        help="Keep every point this many days, then thin out; "
        f"{KEEP_ALL_DAYS.words} (default: stats.keep_all_days).",
        callback=within(KEEP_ALL_DAYS),
    ),
]
KeepWeeklyOption = Annotated[
    bool,
    typer.Option(
        "--keep-weekly",
        help="Past --keep-all-days keep one point per week (default: stats.keep_weekly).",
    ),
]
NoKeepWeeklyOption = Annotated[
    bool,
    typer.Option(
        "--no-keep-weekly", help="Past --keep-all-days delete every point (not with --keep-weekly)."
    ),
]
TimeLimitOption = Annotated[
    str | None,
    typer.Option(
        "--time-limit",
        help="Give up on a repository after this long, e.g. 30s, 5m; at most 1d "
        "(default: stats.time_limit).",
    ),
]


def _retention(
    ctx: typer.Context, keep_all_days: int | None, keep_weekly: bool, no_keep_weekly: bool
) -> Retention:
    """The ``[stats]`` retention, with what the command line overrides. Raises a usage
    error for --keep-weekly with --no-keep-weekly."""
    exclusive(ctx, ("--keep-weekly", keep_weekly), ("--no-keep-weekly", no_keep_weekly))
    configured = Retention.configured(state(ctx).config)
    weekly = configured.keep_weekly if not (keep_weekly or no_keep_weekly) else keep_weekly
    return Retention(configured.keep_all_days if keep_all_days is None else keep_all_days, weekly)


_SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: tuple[int, ...]) -> str:
    """``(1, 5, 9)`` → ``▁▄█``: the values scaled between their minimum and maximum."""
    if not values:
        return ""
    low, high = min(values), max(values)
    if high == low:
        return _SPARKS[0] * len(values)
    top = len(_SPARKS) - 1
    return "".join(_SPARKS[round((value - low) * top / (high - low))] for value in values)


def _change(value: int | None) -> str:
    if value is None:
        return "-"
    sign = "+" if value >= 0 else "-"
    return f"{sign}{format_size(abs(value)) if value else '0B'}"


@contextmanager
def _progress(enabled: bool, total_hint: str) -> Iterator[stats.ProgressCallback | None]:
    """A rich progress bar on stderr when it is a terminal, else nothing (cron)."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(total_hint, total=None)

        def advance(done: int, total: int, item: CollectedRepository) -> None:
            bar.update(task, completed=done, total=total)

        yield advance


@app.command("collect")
def collect(
    ctx: typer.Context,
    repositories: Annotated[
        list[str] | None,
        typer.Argument(help="Repositories (OWNER/NAME or repository user); default: all."),
    ] = None,
    changed_since: Annotated[
        str | None,
        typer.Option(
            "--changed-since",
            help="Only walk repositories changed on disk within this period (e.g. 2h).",
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            help=f"Repositories measured at once, {JOBS.words}, never more than there are "
            "repositories (default: stats.jobs; 0: CPUs, at most 8).",
            callback=within(JOBS),
        ),
    ] = None,
    time_limit: TimeLimitOption = None,
    keep_all_days: KeepAllDaysOption = None,
    keep_weekly: KeepWeeklyOption = False,
    no_keep_weekly: NoKeepWeeklyOption = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", "-q", help="Print nothing unless a repository failed (not with --json)."
        ),
    ] = False,
    json: JsonOption = False,
) -> None:
    """Measure repositories on disk (as du counts) and record one point each; prune old
    points. Exit 1 when a repository timed out or could not be read."""
    exclusive(ctx, ("--quiet", quiet), ("--json", json))
    since = None if changed_since is None else parse_duration(changed_since)
    limit = None if time_limit is None else float(parse_duration(time_limit, WALK_TIME_LIMIT))
    retention = _retention(ctx, keep_all_days, keep_weekly, no_keep_weekly)
    config = state(ctx).config
    with store_session(ctx), _progress(not (json or quiet), "measuring") as progress:
        result = stats.collect(
            config,
            repositories or (),
            changed_since=since,
            jobs=jobs,
            time_limit=limit,
            retention=retention,
            progress=progress,
        )
    for item in result.repositories:
        if item.status in ("timeout", "error") or item.unreadable:
            sys.stderr.write(
                f"borghive: warning: {item.owner}/{item.name}: {item.status}: {item.problem}\n"
            )
    if json:
        emit_json(result)
    elif not quiet:
        say(
            f"measured {counted(result.measured, 'repository', 'repositories')} "
            f"({format_size(result.bytes_used)}), "
            f"{result.unchanged} unchanged, {result.missing} not initialised, "
            f"{result.failed} failed, {result.pruned} old points pruned "
            f"in {result.duration:.1f}s"
        )
    if result.failed:
        raise typer.Exit(1)


def _age(item: RepositoryStats) -> Text:
    from rich.text import Text

    if item.backup_age_seconds is None:
        return Text("never", style="red" if item.alert_after else "")
    shown = format_age(item.backup_age_seconds) if item.backup_age_seconds >= 60 else "now"
    style = "" if item.stale is None else ("bold red" if item.stale else "green")
    return Text(shown, style=style)


@app.command("show")
def show(
    ctx: typer.Context,
    repository: Annotated[
        str | None,
        typer.Argument(help="One repository (OWNER/NAME or repository user); default: all."),
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", "-u", help="Only this user's repositories.")
    ] = None,
    json: JsonOption = False,
) -> None:
    """Show size, change over 1/7/30 days, quota use, backup age and size history."""
    with store_session(ctx, readonly=True):
        result = stats_report.show_stats(repository, user)
    if json:
        emit_json(result)
        return
    from rich.markup import escape
    from rich.table import Table

    grid = Table(title="Repository usage", title_justify="left")
    for column in (
        "repository",
        "size",
        "1d",
        "7d",
        "30d",
        "quota",
        "used",
        "last backup",
        "30 days",
    ):
        grid.add_column(column)
    for item in result:
        grid.add_row(
            escape(f"{item.owner}/{item.name}"),
            format_size(item.bytes_used),
            *(_change(item.changes[key]) for key in ("1d", "7d", "30d")),
            format_size(item.quota),
            "-" if item.quota_used_percent is None else f"{item.quota_used_percent:.1f}%",
            _age(item),
            sparkline(item.history),
        )
    console().print(grid)


@app.command("history")
def history(
    ctx: typer.Context,
    repository: Annotated[
        str, typer.Argument(help="The repository: OWNER/NAME or repository user.")
    ],
    since: Annotated[
        str | None, typer.Option("--since", help="Only points from this recent period (e.g. 30d).")
    ] = None,
    json: JsonOption = False,
) -> None:
    """List a repository's recorded points, oldest first."""
    seconds = None if since is None else parse_duration(since)
    with store_session(ctx, readonly=True):
        result = stats_report.history(repository, seconds)
    if json:
        emit_json(result)
        return
    table(
        f"{result.owner}/{result.name}",
        ["time", "size", "apparent", "files", "segments"],
        [
            (
                when(point.time),
                format_size(point.bytes_used),
                format_size(point.apparent_bytes),
                point.file_count,
                point.segment_count,
            )
            for point in result.points
        ],
    )


@app.command("prune")
def prune(
    ctx: typer.Context,
    keep_all_days: KeepAllDaysOption = None,
    keep_weekly: KeepWeeklyOption = False,
    no_keep_weekly: NoKeepWeeklyOption = False,
    json: JsonOption = False,
) -> None:
    """Delete old points: keep all for --keep-all-days, then one per week."""
    retention = _retention(ctx, keep_all_days, keep_weekly, no_keep_weekly)
    with store_session(ctx):
        result = stats.prune(retention)
    if json:
        emit_json(result)
        return
    say(
        f"deleted {result.deleted} points, kept {result.kept} older than "
        f"{result.keep_all_days} days"
    )


@app.command("export")
def export(
    ctx: typer.Context,
    prometheus: Annotated[
        Path,
        typer.Option(
            "--prometheus",
            help="Write node_exporter's textfile format to this file (atomically).",
            dir_okay=False,
        ),
    ],
    time_limit: Annotated[
        str,
        typer.Option(
            "--time-limit",
            help="Leave out a repository's open state after this long; at most 1d.",
        ),
    ] = "5s",
    json: JsonOption = False,
) -> None:
    """Export the latest statistics for Prometheus (node_exporter textfile collector)."""
    config = state(ctx).config
    with store_session(ctx, readonly=True):
        result = stats_export.export_prometheus(
            config, prometheus, time_limit=float(parse_duration(time_limit, WALK_TIME_LIMIT))
        )
    for path in result.unreachable:
        sys.stderr.write(f"borghive: warning: {path}: no answer, open state left out\n")
    if json:
        emit_json(result)
        return
    say(
        f"wrote {result.samples} samples of "
        f"{counted(result.repositories, 'repository', 'repositories')} to {result.path}"
    )
