"""Writing the daemon's outbox to the store, and ``watch --once``.

A failed write keeps everything in the outbox and backs off; each outage is logged once
when it starts and once when it ends. Directories that match no repository are logged
once each and their records dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from borghive.config import Config
from borghive.errors import StoreUnavailableError
from borghive.rules.layout import repository_path
from borghive.service.events.records import RecordReport, RepoKey
from borghive.service.events.writer import record_changes
from borghive.watch.outbox import Outbox
from borghive.watch.scan import scan_tree

log = logging.getLogger("borghive.watch")


@dataclass
class StoreWriter:
    root: Path
    outbox: Outbox
    unknown_logged: set[RepoKey] = field(default_factory=set)
    outage_since: float | None = None
    dropped_logged: bool = False

    def flush(self, now: float) -> bool:
        """Write what is pending when due; True when nothing is left pending."""
        if not self.outbox.due(now):
            return not self.outbox.pending
        events, times = self.outbox.take()
        try:
            report = record_changes(events, times)
        except StoreUnavailableError as error:
            delay = self.outbox.failed(now)
            if self.outage_since is None:
                self.outage_since = now
                log.warning(
                    "store unavailable: %s; keeping events in memory, retrying (next in %.1f s)",
                    error.message,
                    delay,
                )
            if self.outbox.dropped and not self.dropped_logged:
                self.dropped_logged = True
                log.error("event buffer full: dropping the oldest events")
            return False
        self.outbox.written(len(events), times)
        self._report(report, now)
        return not self.outbox.pending

    def _report(self, report: RecordReport, now: float) -> None:
        if self.outage_since is not None:
            log.info(
                "store available again after %.1f s: wrote %d buffered events (%d dropped)",
                now - self.outage_since,
                report.events_written,
                self.outbox.dropped,
            )
            self.outage_since = None
            self.dropped_logged = False
            self.outbox.dropped = 0
        for key in sorted(report.unknown - self.unknown_logged):
            self.unknown_logged.add(key)
            log.info(
                "ignoring %s: no repository %s of user %s in the store",
                Path(repository_path(self.root, key.repo_user, key.name)),
                key.name,
                key.repo_user,
            )
        if report.events_written or report.repositories_updated:
            log.debug(
                "wrote %d events, updated %d repositories",
                report.events_written,
                report.repositories_updated,
            )


@dataclass(frozen=True)
class ReconcileReport:
    repositories: int
    updated: int
    unknown: int


def reconcile_once(config: Config) -> ReconcileReport:
    """``borghive watch --once``: scan the tree and set every repository's last access and
    update from mtimes. The store must be open; raises StoreUnavailableError."""
    times = {key: listing.times for key, listing in scan_tree(config.repos.root)}
    report = record_changes([], times)
    return ReconcileReport(len(times), report.repositories_updated, len(report.unknown))
