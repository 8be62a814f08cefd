"""Writing the daemon's outbox to the store, and ``watch --once``.

A failed write keeps everything in the outbox and backs off; each outage is logged once
when it starts and once when it ends. Directories that match no repository are logged
once each and their records dropped. Once the events replayed from the spool are written,
the spool file is removed.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from borghive.config import Config
from borghive.errors import ConfigError, StoreUnavailableError
from borghive.rules.layout import repository_path
from borghive.service.events.records import RecordReport, RepoKey
from borghive.service.events.writer import EVENT_KINDS, record_changes
from borghive.service.hosts.identity import this_host
from borghive.watch.outbox import Outbox
from borghive.watch.scan import scan_tree
from borghive.watch.spool import SpoolError, read_spool, remove_spool, write_spool

log = logging.getLogger("borghive.watch")


@dataclass
class StoreWriter:
    root: Path
    outbox: Outbox
    spool: Path
    host: str = ""  # this host's name in borg_session (the session tracker's)
    storage_host: str | None = None  # repository.host of the repositories here (None: all)
    unknown_logged: set[RepoKey] = field(default_factory=set)
    outage_since: float | None = None
    dropped_logged: bool = False

    def flush(self, now: float, wait: float | None = None) -> bool:
        """Write what is pending when due, waiting at most ``wait`` seconds for the store's
        lock (None: its busy timeout); True when nothing is left pending."""
        if not self.outbox.due(now):
            return not self.outbox.pending
        events, times = self.outbox.take()
        sessions, alive = self.outbox.take_sessions()
        spooled = self.outbox.spooled
        try:
            report = record_changes(
                events,
                times,
                wait=wait,
                replay=spooled > 0,
                sessions=list(sessions.values()),
                host=self.host,
                alive=alive,
                storage_host=self.storage_host,
            )
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
        self.outbox.sessions_written(sessions, alive)
        self._report(report, now)
        if spooled:
            self._spool_written(spooled)
        return not self.outbox.pending

    def _spool_written(self, spooled: int) -> None:
        """The spool's events are in the store: remove it. If that fails, the next start
        replays it again, which writes nothing twice."""
        try:
            remove_spool(self.spool)
        except OSError as exc:
            log.warning("cannot remove the spool %s: %s", self.spool, exc.strerror)
            return
        log.info("spool %s replayed: %d events", self.spool, spooled)

    def load_spool(self) -> int:
        """Put the spool's events (from a stop when the store was away) before anything
        else in the outbox; the next flush writes them and removes the file. Returns how
        many. A file that is not a spool is moved aside to ``<spool>.corrupt`` (logged).
        Raises ConfigError when the spool cannot be read or moved: starting anyway would
        overwrite it at the next stop."""
        try:
            events = read_spool(self.spool, EVENT_KINDS)
        except SpoolError as error:
            aside = self.spool.with_name(self.spool.name + ".corrupt")
            try:
                os.replace(self.spool, aside)
            except OSError as exc:
                raise ConfigError(
                    f"watch.spool: {self.spool}: {error}; cannot move it aside: {exc.strerror}"
                ) from None
            log.error("spool %s: %s; moved to %s, not replayed", self.spool, error, aside)
            return 0
        except OSError as exc:
            raise ConfigError(f"watch.spool: cannot read {self.spool}: {exc.strerror}") from None
        if events:
            log.info("replaying %d events from the spool %s", len(events), self.spool)
            self.outbox.add_spooled(events)
        return len(events)

    def finish(self, deadline: float, busy_timeout: float) -> bool:
        """The final flush: try until ``deadline`` (monotonic), no attempt waiting past it
        for the store's lock; then put the events still pending into the spool. Times
        still pending are not kept (the next start reads them from disk again). Returns
        False when events were lost: the spool could not be written or the buffer had
        dropped some."""
        while self.outbox.pending:
            now = time.monotonic()
            if now >= deadline:
                break
            if self.outbox.due(now):
                self.flush(now, wait=min(busy_timeout, deadline - now))
            else:
                time.sleep(min(self.outbox.retry_at, deadline) - now)
        lost = self.outbox.dropped
        if lost:
            log.error("%d events were dropped while the store was away (buffer full)", lost)
        if not self.outbox.events:
            return not lost
        count = len(self.outbox.events)
        try:
            write_spool(self.spool, list(self.outbox.events))
        except OSError as exc:
            log.error(
                "store unavailable and cannot write the spool %s: %s: %d events lost",
                self.spool,
                exc.strerror,
                count,
            )
            return False
        log.warning(
            "store unavailable: %d events kept in the spool %s, written at the next start",
            count,
            self.spool,
        )
        return not lost

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
        for key in sorted(report.elsewhere - self.unknown_logged):
            self.unknown_logged.add(key)
            log.debug(
                "ignoring %s: repository %s of user %s lives on another storage host",
                Path(repository_path(self.root, key.repo_user, key.name)),
                key.name,
                key.repo_user,
            )
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
    report = record_changes([], times, storage_host=this_host(config))
    return ReconcileReport(len(times), report.repositories_updated, len(report.unknown))
