"""The watch daemon's heartbeat: this host's capacity report every ``hosts.heartbeat``, in
a thread of its own, so that placement knows the host is alive and how full it is.

Error policy: a failed report (store away, repos root unreadable) is logged once when the
outage starts and once when it ends; it never stops the daemon. The inotify loop, the
session tracker and maintenance are not touched.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from borghive.config import Config
from borghive.errors import BorghiveError
from borghive.rules.quantities import parse_duration
from borghive.service.hosts.report import HostReport, report_this_host
from borghive.store import store_errors

log = logging.getLogger("borghive.watch")


def report_now(config: Config) -> HostReport:
    """One capacity report from a worker thread (driver errors as StoreUnavailableError)."""
    with store_errors():
        return report_this_host(config)


class Heartbeat:
    """Calls ``beat`` at once and then every ``interval()`` seconds until stopped."""

    def __init__(
        self,
        beat: Callable[[], object],
        interval: Callable[[], float],
        *,
        name: str = "heartbeat",
    ) -> None:
        self._beat = beat
        self._interval = interval
        self._stop = threading.Event()
        self.failing_since: float | None = None
        self.beats = 0
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)

    def _once(self) -> None:
        try:
            self._beat()
        except BorghiveError as error:
            self._failed(error.message)
            return
        except Exception as error:  # noqa: BLE001 - a failed report must not stop the thread
            self._failed(f"{type(error).__name__}: {error}")
            return
        self.beats += 1
        if self.failing_since is not None:
            log.info(
                "capacity report works again after %.0f s",
                time.monotonic() - self.failing_since,
            )
            self.failing_since = None

    def _failed(self, reason: str) -> None:
        if self.failing_since is None:
            self.failing_since = time.monotonic()
            log.warning("cannot report this host's capacity: %s; retrying", reason)

    def _work(self) -> None:
        while not self._stop.is_set():
            self._once()
            self._stop.wait(self._interval())


def start_heartbeat(current: Callable[[], Config]) -> Heartbeat:
    """The heartbeat of the configuration in force (its ``hosts.heartbeat`` is read again
    after every beat, so a reload takes effect)."""

    def interval() -> float:
        return float(parse_duration(current().hosts.heartbeat))

    return Heartbeat(lambda: report_now(current()), interval).start()
