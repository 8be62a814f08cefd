"""``borghive watch``: the repository event daemon (foreground, under systemd)."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from borghive.cli.app import state
from borghive.cli.render import say
from borghive.config import Config, load_config
from borghive.service.events import open_event_store


def _configure_logging(debug: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("borghive watch: %(levelname)s: %(message)s"))
    logger = logging.getLogger("borghive")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    logger.propagate = False


def watch(
    ctx: typer.Context,
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Rescan the repos tree, set last access/update from mtimes, and exit.",
        ),
    ] = False,
) -> None:
    """Record repository events (created, opened, closed, updated, deleted) from inotify."""
    from borghive.watch.daemon import Daemon
    from borghive.watch.writer import reconcile_once

    app_state = state(ctx)
    config = app_state.config
    _configure_logging(app_state.debug)
    with open_event_store(config.store):
        if once:
            report = reconcile_once(config)
            say(
                f"{report.repositories} repository directories, {report.updated} updated, "
                f"{report.unknown} not in the store"
            )
            return

        def reload() -> Config:
            return load_config(app_state.config_path)

        status = Daemon(config, reload=reload).run()
    raise typer.Exit(status)
