"""``borghive watch``: the repository event daemon (foreground, under systemd)."""

from __future__ import annotations

from typing import Annotated

import typer

from borghive.cli.app import state
from borghive.cli.render import say
from borghive.cli.usage import within
from borghive.rules.bounds import STATS_DELAY


def watch(
    ctx: typer.Context,
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Rescan the repos tree, set last access/update from mtimes, and exit.",
        ),
    ] = False,
    stats_delay: Annotated[
        float,
        typer.Option(
            "--stats-delay",
            help="Seconds after a repository's update before its usage is measured "
            f"(later updates restart the wait); {STATS_DELAY.words}.",
            callback=within(STATS_DELAY),
        ),
    ] = 30.0,
) -> None:
    """Record repository events (created, opened, closed, updated, deleted) from inotify."""
    from borghive.watch import wiring

    app_state = state(ctx)
    config = app_state.config
    wiring.configure_logging(app_state.debug)
    if once:
        report = wiring.run_once(config)
        say(
            f"{report.repositories} repository directories, {report.updated} updated, "
            f"{report.unknown} not in the store"
        )
        return
    raise typer.Exit(wiring.run(config, app_state.config_path, stats_delay=stats_delay))
