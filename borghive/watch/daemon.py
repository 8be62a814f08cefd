"""The inotify loop of ``borghive watch``.

Watches the repos root, every repository user's home and every repository directory (not
``data/``). Each raw event is turned into a call of the pure functions in
:mod:`borghive.watch.classify`; the outcomes go to an :class:`~borghive.watch.outbox.Outbox`
that is written through :mod:`borghive.service.events.writer`, and kept while the store is away.

Signals only set flags, acted on between events: SIGTERM/SIGINT stop, SIGHUP reloads the
configuration. A queue overflow (wd -1) triggers a full rescan.

Stopping loses nothing: the kernel's inotify queue is drained, the outbox flushed for up to
SHUTDOWN_GRACE seconds, and what the store still cannot take goes to the spool, which the
next start writes first. No write waits for the store's lock past WRITE_WAIT (the grace
left, when stopping), so a locked store cannot hold a stop past the unit's TimeoutStopSec=30:
WRITE_WAIT + DRAIN_LIMIT + SHUTDOWN_GRACE + the statistics worker's 5 s is under 25 s.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import pyinotify

from borghive.config import Config
from borghive.errors import ConfigError
from borghive.rules.layout import repository_path
from borghive.rules.times import utcnow
from borghive.service.events.records import EventRecord, RepoKey
from borghive.service.hosts.identity import this_host
from borghive.watch.classify import (
    IN_ISDIR,
    Change,
    Outcome,
    RepoState,
    change_from_mask,
    classify,
    discovered,
    removed,
    resynchronised,
)
from borghive.watch.inotify import (
    POLL_MS,
    TREE_MASK,
    VANISHED,
    EventHandler,
    Notifier,
    watch_errno,
    watch_refusal,
)
from borghive.watch.outbox import Outbox
from borghive.watch.scan import Listing, is_candidate, list_repository, scan_tree, subdirectories
from borghive.watch.sessions import SessionFeed
from borghive.watch.statistics import Refresh, RefreshQueue
from borghive.watch.writer import StoreWriter

log = logging.getLogger("borghive.watch")

SHUTDOWN_GRACE = 10.0  # seconds the final flush keeps trying before events are spooled
DRAIN_LIMIT = 5.0  # seconds to read what the kernel still queues when a stop is asked
WRITE_WAIT = 2.0  # seconds a write in the loop waits for the store's lock at most


@dataclass(frozen=True)
class Node:
    """A watched directory: depth 0 root, 1 home of ``user``, 2 repository ``key``."""

    path: Path
    depth: int
    user: str = ""
    name: str = ""


class Daemon:
    """The watch daemon; :meth:`run` until a signal stops it. The store must be open."""

    def __init__(
        self,
        config: Config,
        *,
        reload: Callable[[], Config] | None = None,
        refresh: Refresh | None = None,
        refresh_delay: float = 30.0,
        buffer_limit: int = 10_000,
    ) -> None:
        self.config = config
        self._reload_config = reload
        self.writer = StoreWriter(
            config.repos.root,
            Outbox(limit=buffer_limit),
            config.watch.spool,
            storage_host=this_host(config),
        )
        self.sessions = SessionFeed(self.writer, enabled=config.watch.sessions)
        # No refresh: statistics are not measured after updates (tests, --once).
        self.refreshes = None if refresh is None else RefreshQueue(refresh, refresh_delay)
        self.states: dict[RepoKey, RepoState] = {}
        self._nodes: dict[int, Node] = {}
        self._watched: dict[Path, int] = {}
        self._refused: set[Path] = set()  # watch failures logged, until one succeeds
        self._stop = False
        self._scanned = False
        self.status = 0
        self._reload = False
        self._rescan = False
        self._manager = pyinotify.WatchManager()
        self._notifier = Notifier(self._manager, EventHandler(daemon=self), timeout=POLL_MS)
        # pyinotify logs a vanished directory as an error; here it is routine.
        logging.getLogger("pyinotify").setLevel(logging.CRITICAL)

    # --- tree ------------------------------------------------------------------------

    @property
    def root(self) -> Path:
        return self.config.repos.root

    @property
    def watch_count(self) -> int:
        return len(self._nodes)

    def _watch(self, path: Path, depth: int, *, again: bool = False) -> bool:
        """Watch ``path``; False when it is gone or cannot be watched. A path already
        watched is skipped unless ``again`` (a rescan: the directory may have been replaced
        by a new one of the same name; the kernel returns the same wd for the same one)."""
        if path in self._watched and not again:
            return True
        result = self._manager.add_watch(str(path), TREE_MASK, quiet=True)
        wd = int(next(iter(result.values()), -1))
        if wd < 0:  # logged once until it can be watched; a directory gone is routine
            message = watch_refusal(path, watch_errno(self._manager))
            if message is not None and path not in self._refused:
                self._refused.add(path)
                log.warning("%s", message)
            return False
        self._refused.discard(path)
        if depth == 2:
            node = Node(path, depth, path.parent.name, path.name)
        else:
            node = Node(path, depth, path.name if depth else "")
        self._nodes[wd] = node
        self._watched[path] = wd
        return True

    def _forget_watch(self, wd: int) -> None:
        node = self._nodes.pop(wd, None)
        if node is not None and self._watched.get(node.path) == wd:
            del self._watched[node.path]

    def _unwatch_below(self, path: Path) -> None:
        """Stop watching ``path`` and everything under it (a directory moved away)."""
        for wd, node in list(self._nodes.items()):
            if node.path == path or path in node.path.parents:
                self._manager.rm_watch(wd, quiet=True)
                self._forget_watch(wd)

    def start(self) -> None:
        """Install the watches and scan the tree (a start-up rescan)."""
        if not self._watch(self.root, 0):
            raise ConfigError(
                f"repos.root: cannot watch {self.root}: not a directory",
                hint="create it, or mount it first (RequiresMountsFor= in the systemd unit)",
            )
        self.rescan()

    def rescan(self) -> None:
        """Walk the whole tree, watching what is new, resynchronising every repository and
        reconciling last access/update from mtimes. Repositories known before and gone
        now are recorded as deleted; new ones as created (only after start-up)."""
        started = time.monotonic()
        first = not self._scanned
        self._scanned = True
        seen: set[RepoKey] = set()
        visited: set[Path] = set()

        def watch(path: Path, depth: int) -> bool:
            visited.add(path)
            return self._watch(path, depth, again=not first)

        for key, listing in scan_tree(self.root, watch):
            seen.add(key)
            previous = self.states.get(key)
            if previous is None:
                state, outcomes = discovered(listing.names, new=not first)
            else:
                state, outcomes = resynchronised(previous, listing.names)
            self.states[key] = state
            self._emit(key, outcomes, listing)
        for key in sorted(set(self.states) - seen):
            self._emit(key, removed(self.states.pop(key)), None)
        for wd, node in list(self._nodes.items()):
            if node.path not in visited:  # gone while its events were lost
                self._manager.rm_watch(wd, quiet=True)
                self._forget_watch(wd)
        log.info(
            "%s: %d repository directories, %d watches, %.2f s",
            "start-up scan" if first else "rescan",
            len(seen),
            self.watch_count,
            time.monotonic() - started,
        )

    # --- events ----------------------------------------------------------------------

    @property
    def rescan_requested(self) -> bool:
        return self._rescan

    def overflowed(self) -> None:
        log.warning("inotify queue overflowed: rescanning the repos tree")
        self._rescan = True

    def handle(self, wd: int, mask: int, name: str) -> None:
        """One raw inotify event: route it by the depth of its directory."""
        if mask & pyinotify.IN_IGNORED:
            node = self._nodes.get(wd)
            self._forget_watch(wd)
            if node is not None and node.depth == 0:
                log.error("repos root %s vanished: stopping", node.path)
                self.status = 1
                self._stop = True
            return
        node = self._nodes.get(wd)
        if node is None:
            return
        if node.depth == 2:
            key = RepoKey(node.user, node.name)
            change = change_from_mask(mask, name)
            state = self.states.get(key)
            if change is not None and state is not None:
                self._change(key, state, change)
            return
        if not (mask & IN_ISDIR) or not is_candidate(name):
            return
        path = node.path / name
        if mask & VANISHED:
            self._vanished(node, path, name)
        elif node.depth == 0:
            self._home_appeared(path)
        else:
            self._repository_appeared(RepoKey(node.user, name), path)

    def _change(self, key: RepoKey, state: RepoState, change: Change) -> None:
        self.sessions.changed(key, change, state.index)
        new_state, outcomes = classify(state, change)
        self.states[key] = new_state
        if outcomes:
            self._emit(
                key,
                outcomes,
                list_repository(Path(repository_path(self.root, key.repo_user, key.name))),
            )

    def _home_appeared(self, home: Path) -> None:
        if not self._watch(home, 1):
            return
        for name in subdirectories(home):
            self._repository_appeared(RepoKey(home.name, name), home / name)

    def _repository_appeared(self, key: RepoKey, path: Path) -> None:
        if not self._watch(path, 2):
            return
        listing = list_repository(path)
        if listing is None:
            return
        state, outcomes = discovered(listing.names, new=True)
        self.states[key] = state
        self._emit(key, outcomes, listing)

    def _vanished(self, node: Node, path: Path, name: str) -> None:
        if node.depth == 0:
            gone = [key for key in self.states if key.repo_user == name]
        else:
            gone = [RepoKey(node.user, name)]
        for key in sorted(gone):
            state = self.states.pop(key, None)
            if state is not None:
                self._emit(key, removed(state), None)
        self._unwatch_below(path)

    def _emit(self, key: RepoKey, outcomes: tuple[Outcome, ...], listing: Listing | None) -> None:
        now = utcnow()
        session = self.sessions.session_of(key)
        for outcome in outcomes:
            log.debug("%s/%s: %s %s", key.repo_user, key.name, outcome.kind, outcome.detail)
            self.outbox.add_event(EventRecord(key, outcome.kind, now, outcome.detail, session))
            if outcome.kind == "updated" and self.refreshes is not None:
                self.refreshes.request(key)
        if listing is None:
            self.outbox.forget(key)
        else:
            self.outbox.add_times(key, self.sessions.times(key, listing.times))
        self.sessions.emitted(key, outcomes, gone=listing is None)

    # --- store -----------------------------------------------------------------------

    @property
    def outbox(self) -> Outbox:
        return self.writer.outbox

    def flush(self, now: float | None = None) -> bool:
        """Write what is pending when due; True when nothing is left pending."""
        wait = min(self.config.store.busy_timeout, WRITE_WAIT)
        return self.writer.flush(time.monotonic() if now is None else now, wait=wait)

    # --- loop ------------------------------------------------------------------------

    def request_stop(self, signum: int, frame: FrameType | None = None) -> None:
        if not self._stop:
            log.info("received %s: flushing and stopping", signal.Signals(signum).name)
        self._stop = True

    def request_reload(self, signum: int, frame: FrameType | None = None) -> None:
        self._reload = True

    def install_signal_handlers(self) -> dict[int, Any]:
        """Route SIGTERM/SIGINT/SIGHUP to this daemon; returns the previous handlers."""
        handlers = {
            signal.SIGTERM: self.request_stop,
            signal.SIGINT: self.request_stop,
            signal.SIGHUP: self.request_reload,
        }
        return {signum: signal.signal(signum, handler) for signum, handler in handlers.items()}

    def reload(self) -> None:
        """SIGHUP: load the configuration again; a new repos root is watched from scratch.
        A changed store URL needs a restart (logged)."""
        self._reload = False
        if self._reload_config is None:
            return
        try:
            config = self._reload_config()
        except ConfigError as error:
            log.error("configuration not reloaded: %s", error.message)
            return
        if config.store.url != self.config.store.url:
            log.warning("store.url changed: restart borghive watch to use the new store")
        if not config.repos.root.is_dir():
            log.error(
                "configuration not reloaded: repos.root %s is not a directory", config.repos.root
            )
            return
        old_root = self.root
        self.config = config
        self.writer.root = config.repos.root
        self.writer.storage_host = this_host(config)
        self.sessions.reroot(config.repos.root)
        if config.repos.root != old_root:
            for wd in list(self._nodes):
                self._manager.rm_watch(wd, quiet=True)
                self._forget_watch(wd)
            self.states.clear()
            self._scanned = False
            self.start()
        log.info("configuration reloaded from %s", config.source)

    def step(self) -> None:
        """One turn of the loop: read and handle events, rescan/reload if asked, flush."""
        if self._notifier.check_events():
            self._notifier.read_events()
        self._notifier.process_events()
        self._between_reads()
        self.sessions.sweep_if_due(self.states, time.monotonic())
        if self._reload:
            self.reload()
        self.flush()

    def run(self) -> int:
        """Write the spool's events, start, loop until SIGTERM/SIGINT, stop (see
        :meth:`close`); returns the exit status: 0, or 1 when the repos root itself
        vanished or events were lost. Raises ConfigError when the root is missing or the
        spool cannot be read."""
        previous = self.install_signal_handlers()
        try:
            if self.writer.load_spool():
                self.flush()
            self.start()
            self.sessions.sweep_if_due(self.states, time.monotonic())
            self.flush()
            log.info("watching %s: ready", self.root)
            while not self._stop:
                self.step()
        finally:
            self.close()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return self.status

    def _between_reads(self) -> None:
        """Rescan if an overflow asked for it."""
        if self._rescan:
            self._rescan = False
            self.rescan()

    def close(self) -> None:
        """Stop: drain the inotify queue, flush for up to SHUTDOWN_GRACE seconds, spool
        what is left, release. Sets ``status`` to 1 when events were lost."""
        try:
            if not self._notifier.drain(time.monotonic() + DRAIN_LIMIT, self._between_reads):
                log.warning("stopping before the inotify queue was read to its end")
            deadline = time.monotonic() + SHUTDOWN_GRACE
            if not self.writer.finish(deadline, self.config.store.busy_timeout):
                self.status = 1
        finally:
            if self.refreshes is not None:
                self.refreshes.stop()
            self._notifier.stop()
