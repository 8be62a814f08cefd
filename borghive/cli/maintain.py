"""``borghive maintain``: the scheduled compaction and checks, for cron or a systemd timer."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from borghive.cli.app import state, store_session
from borghive.cli.options import JsonOption
from borghive.cli.render import counted, emit_json, say, table
from borghive.errors import BorghiveError
from borghive.rules.quantities import format_size


@contextmanager
def _progress(enabled: bool) -> Iterator[tuple[Any, Any]]:
    """(on_plan, on_result) callbacks driving a rich progress bar on stderr at a terminal;
    callbacks that do nothing otherwise."""
    if not enabled:
        yield None, None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("maintenance", total=None)

        def on_plan(plan: Any) -> None:
            progress.update(task, total=len(plan.steps))

        def on_result(result: Any) -> None:
            progress.update(task, advance=1, description=f"{result.repository} {result.action}")

        yield on_plan, on_result


def maintain(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only show what is due; start no borg.")
    ] = False,
    json: JsonOption = False,
) -> None:
    """Compact and check the repositories that are due ([maintenance] and repo set
    --compact-every/--check-every), at most maintenance.jobs at once, inside
    maintenance.window; exit 1 when a step failed."""
    from borghive.service.maintenance.scheduler import maintain as run_maintenance

    config = state(ctx).config
    with store_session(ctx), _progress(sys.stderr.isatty() and not json) as (on_plan, on_result):
        report = run_maintenance(config, dry_run=dry_run, on_plan=on_plan, on_result=on_result)
    if json:
        emit_json({**report.__dict__, "failed": report.failed})
    else:
        _summary(report)
    if report.failed:
        raise BorghiveError(f"maintain: {counted(report.failed, 'step')} failed")


def _summary(report: Any) -> None:
    if not report.in_window and not report.dry_run:
        say(
            f"outside the maintenance window {report.window}: nothing started "
            f"({counted(len(report.planned), 'step')} due)"
        )
        return
    if report.dry_run and not report.in_window:
        say(f"outside the maintenance window {report.window}: a real run would start nothing now")
    if report.dry_run:
        table(
            "Due (dry run)",
            ["repository", "action", "last run", "due since"],
            [
                (
                    s.repository,
                    s.action,
                    s.last.isoformat() if s.last else "never",
                    s.due_since.isoformat(),
                )
                for s in report.planned
            ],
        )
    if report.results:
        table(
            "Maintenance",
            ["repository", "action", "result", "detail"],
            [(r.repository, r.action, r.result, r.detail) for r in report.results],
        )
    if report.skipped:
        table(
            "Skipped",
            ["repository", "action", "reason"],
            [(s.repository, s.action, s.reason) for s in report.skipped],
        )
    freed = sum(r.bytes_freed or 0 for r in report.results)
    done = sum(1 for r in report.results if r.result == "ok")
    later = sum(1 for r in report.results if r.result == "skipped") + len(report.skipped)
    say(
        f"{counted(done, 'step')} ok, {report.failed} failed, {later} skipped, "
        f"{report.not_due} not due; {format_size(freed)} freed"
        + (" (dry run: nothing started)" if report.dry_run else "")
    )
