"""``borghive repo compact|check|break-lock``: maintenance of one repository from the
server, registered on the ``repo`` group."""

from __future__ import annotations

from typing import Annotated

import typer

from borghive.cli.app import state, store_session
from borghive.cli.options import JsonOption
from borghive.cli.render import emit_json, say
from borghive.cli.repo import RepoArgument, app
from borghive.errors import BorghiveError
from borghive.rules.quantities import format_size
from borghive.service.maintenance.actions import MaintenanceReport


def _show(report: MaintenanceReport, json: bool) -> None:
    """Print the report; a failed action is then an error (exit 1)."""
    if json:
        emit_json(report)
    elif report.result == "ok":
        say(f"{report.repository}: {report.action} ok: {report.detail}")
    if report.result != "ok":
        raise BorghiveError(
            f"repository {report.repository}: {report.action} failed: {report.detail}"
        )


@app.command("compact")
def compact(ctx: typer.Context, repository: RepoArgument, json: JsonOption = False) -> None:
    """Free the space prune and delete left (borg compact, as the repository user); prints
    the bytes freed on disk. Refused for append-only repositories unless allowed."""
    from borghive.service.maintenance.compact import compact_repository

    config = state(ctx).config
    with store_session(ctx):
        report = compact_repository(config, repository)
    assert report is not None  # noqa: S101 - None only for the scheduler's still_due
    if not json and report.result == "ok" and report.bytes_freed is not None:
        say(f"{report.repository}: compacted, {format_size(report.bytes_freed)} freed")
        return
    _show(report, json)


@app.command("check")
def check(ctx: typer.Context, repository: RepoArgument, json: JsonOption = False) -> None:
    """Check the repository's segments and index (borg check --repository-only, no key
    needed); exit 1 naming the damaged segments."""
    from borghive.service.maintenance.check import check_repository

    config = state(ctx).config
    with store_session(ctx):
        report = check_repository(config, repository)
    assert report is not None  # noqa: S101 - None only for the scheduler's still_due
    _show(report, json)


@app.command("break-lock")
def break_lock(
    ctx: typer.Context,
    repository: RepoArgument,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Break it even when a holder may be alive: a borg still writing would leave "
            "the repository's index damaged.",
        ),
    ] = False,
    json: JsonOption = False,
) -> None:
    """Remove a stale lock (its holder is dead, or on another host with no process of the
    repository user here); refuses naming a live holder."""
    from borghive.service.maintenance.breaklock import break_lock as break_stale_lock

    config = state(ctx).config
    with store_session(ctx):
        report = break_stale_lock(config, repository, force=force)
    _show(report, json)
