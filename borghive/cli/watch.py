"""``borghive watch``: the repository event daemon (foreground, under systemd)."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from borghive.cli.app import state
from borghive.cli.render import say
from borghive.config import Config, load_config
from borghive.errors import BorghiveError, NotFoundError
from borghive.service.events.records import RepoKey
from borghive.service.events.writer import open_event_store
from borghive.service.stats.collect import refresh_repository


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
    stats_delay: Annotated[
        float,
        typer.Option(
            "--stats-delay",
            min=0.0,
            help="Seconds after a repository's update before its usage is measured "
            "(later updates restart the wait).",
        ),
    ] = 30.0,
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

        current = [config]

        def reload() -> Config:
            current[0] = load_config(app_state.config_path)
            return current[0]

        def refresh(key: RepoKey) -> None:
            """After an update: measure the repository (stats service), off the loop."""
            log = logging.getLogger("borghive.watch")
            try:
                result = refresh_repository(current[0], key.repo_user)
            except NotFoundError:
                log.debug("statistics of %s/%s: not in the store", key.repo_user, key.name)
                return
            except BorghiveError as error:  # the store is away: the next update retries
                log.warning("statistics of %s/%s: %s", key.repo_user, key.name, error.message)
                return
            log.info("statistics of %s/%s: %s", key.repo_user, key.name, result.status)

        status = Daemon(config, reload=reload, refresh=refresh, refresh_delay=stats_delay).run()
    raise typer.Exit(status)
