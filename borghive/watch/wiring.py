"""How ``borghive watch`` is put together: its logging, the statistics service plugged into
the daemon's refreshes and what a failed refresh means, the configuration reload, and the
store it runs on. The command (``cli/watch.py``) only parses options and calls
:func:`run` or :func:`run_once`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from borghive.config import Config
from borghive.config_load import load_config
from borghive.errors import BorghiveError, ConflictError, NotFoundError
from borghive.service.events.records import RepoKey
from borghive.service.events.writer import open_event_store
from borghive.service.stats.collect import refresh_repository
from borghive.watch.heartbeat import start_heartbeat
from borghive.watch.statistics import Refresh
from borghive.watch.writer import ReconcileReport, reconcile_once

if TYPE_CHECKING:
    from borghive.watch.snapshot import SnapshotKeeper

log = logging.getLogger("borghive.watch")


def configure_logging(debug: bool) -> None:
    """One ``borghive watch: LEVEL: message`` line per record on stderr (the journal)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("borghive watch: %(levelname)s: %(message)s"))
    logger = logging.getLogger("borghive")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    logger.propagate = False


def statistics_refresh(current: Callable[[], Config]) -> Refresh:
    """The refresh the daemon runs after an update: measure the repository with the stats
    service, on the configuration in force. Error policy: a repository not in the store is
    skipped quietly, a store that is away is logged once per refresh and retried at the
    next update; neither stops the daemon."""

    def refresh(key: RepoKey) -> None:
        try:
            result = refresh_repository(current(), key.repo_user)
        except NotFoundError:
            log.debug("statistics of %s/%s: not in the store", key.repo_user, key.name)
            return
        except ConflictError:  # it lives on another storage host: not measured here
            log.debug("statistics of %s/%s: on another host", key.repo_user, key.name)
            return
        except BorghiveError as error:
            log.warning("statistics of %s/%s: %s", key.repo_user, key.name, error.message)
            return
        log.info("statistics of %s/%s: %s", key.repo_user, key.name, result.status)

    return refresh


def run(config: Config, config_path: Path | None, *, stats_delay: float) -> int:
    """Run the daemon until SIGTERM/SIGINT; SIGHUP reloads ``config_path``. Returns the
    exit status. Raises StoreOutdatedError, StoreUnavailableError or ConfigError."""
    from borghive.watch.daemon import Daemon

    current = [config]

    def reload() -> Config:
        current[0] = load_config(config_path)
        return current[0]

    with open_event_store(config.store):
        daemon = Daemon(
            config,
            reload=reload,
            refresh=statistics_refresh(lambda: current[0]),
            refresh_delay=stats_delay,
        )
        heartbeat = start_heartbeat(lambda: current[0])
        keeper = snapshot_keeper(lambda: current[0])
        try:
            return daemon.run()
        finally:
            if keeper is not None:
                keeper.stop()
            heartbeat.stop()


def snapshot_keeper(current: Callable[[], Config]) -> SnapshotKeeper | None:
    """On a PostgreSQL store, the started thread keeping this host's login snapshot current
    (borghive.watch.snapshot); None on SQLite, where authkeys reads the store itself, and
    without a configuration file (see kept_snapshot_path)."""
    from borghive.service.hosts.snapshot import kept_snapshot_path
    from borghive.watch.snapshot import SnapshotKeeper

    if kept_snapshot_path(current()) is None:
        return None
    keeper = SnapshotKeeper(current)
    keeper.start()
    return keeper


def run_once(config: Config) -> ReconcileReport:
    """``--once``: rescan the tree and move last access/update forward, then return."""
    with open_event_store(config.store):
        return reconcile_once(config)
