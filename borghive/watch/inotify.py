"""The pyinotify side of ``borghive watch``: the masks it watches with, a Notifier without
pyinotify's rename bookkeeping, and the handler that hands each raw event to the daemon.
The only module besides the daemon that imports pyinotify."""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable
from pathlib import Path
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


def watch_errno(manager: pyinotify.WatchManager) -> int:
    """Why the last ``add_watch`` failed (an errno; 0 when unknown). pyinotify returns only
    a negative wd with ``quiet=True``; the reason is kept by its libc wrapper."""
    code = manager._inotify_wrapper.get_errno()
    return int(code) if code else 0


def watch_refusal(path: Path, code: int) -> str | None:
    """What to log when ``path`` cannot be watched for errno ``code``: the kernel's reason,
    with the watch limit's hint only when that is the reason (ENOSPC); None for a directory
    that is gone meanwhile (routine)."""
    if code in (errno.ENOENT, errno.ENOTDIR):
        return None
    if code == errno.ENOSPC:
        return (
            f"cannot watch {path}: inotify watch limit reached "
            "(raise fs.inotify.max_user_watches; see borghive doctor)"
        )
    if code in (errno.EACCES, errno.EPERM):
        return f"cannot watch {path}: permission denied (its events are not recorded)"
    return f"cannot watch {path}: {os.strerror(code) if code else 'unknown error'}"


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

    def drain(self, deadline: float, between: Callable[[], None]) -> bool:
        """Handle what was read, then read and handle what the kernel still queues until
        its queue is empty (True) or ``deadline`` (monotonic) passes (False);
        ``between()`` runs after each batch (the daemon's rescan after an overflow)."""
        while True:
            self.process_events()
            between()
            if not self.check_events(timeout=0):
                return True
            if time.monotonic() >= deadline:
                return False
            self.read_events()


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
