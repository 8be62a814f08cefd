"""The pyinotify side of ``borghive watch``: the masks it watches with, a Notifier without
pyinotify's rename bookkeeping, and the handler that hands each raw event to the daemon.
The only module besides the daemon that imports pyinotify."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyinotify

if TYPE_CHECKING:
    from borghive.watch.daemon import Daemon

POLL_MS = 200
TREE_MASK = (
    pyinotify.IN_CREATE
    | pyinotify.IN_DELETE
    | pyinotify.IN_MOVED_TO
    | pyinotify.IN_MOVED_FROM
    | pyinotify.IN_ONLYDIR
    | pyinotify.IN_DONT_FOLLOW
)
VANISHED = pyinotify.IN_DELETE | pyinotify.IN_MOVED_FROM


class Notifier(pyinotify.Notifier):  # type: ignore[misc]
    """pyinotify's Notifier without its rename bookkeeping.

    pyinotify remembers every rename of the last minute to pair IN_MOVED_FROM/TO, and walks
    that record on every turn of the loop: with borg renaming lock, index, hints and
    integrity files in many repositories, the daemon spent a whole core there and p99
    latency passed 200 ms (benchmarks/bench_watch.py, 200 active repositories: 95 % of a
    core and p99 119 ms before, 26 % and 19 ms after). The daemon never uses the pairing.
    """

    def process_events(self) -> None:
        super().process_events()
        self._sys_proc_fun._mv_cookie.clear()
        self._sys_proc_fun._mv.clear()


class EventHandler(pyinotify.ProcessEvent):  # type: ignore[misc]
    """Hands every event to the daemon; overrides pyinotify's log-only overflow handler."""

    def my_init(self, daemon: Daemon | None = None) -> None:
        self.daemon = daemon

    def process_IN_Q_OVERFLOW(self, event: Any) -> None:  # pyinotify calls it by this name
        if self.daemon is not None:
            self.daemon.overflowed()

    def process_default(self, event: Any) -> None:
        if self.daemon is not None:
            self.daemon.handle(int(event.wd), int(event.mask), str(event.name or ""))
