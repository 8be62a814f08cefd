"""Debounced statistics refreshes, run off the event loop in one worker thread.

After an ``updated`` event the daemon asks for a refresh of that repository; requests for
the same repository within ``delay`` seconds collapse into one, run ``delay`` seconds after
the last request. What a refresh does is a callback: :mod:`borghive.watch.wiring` plugs in
the statistics service.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from borghive.service.events.records import RepoKey

log = logging.getLogger("borghive.watch")

Refresh = Callable[[RepoKey], None]


class RefreshQueue:
    """Collapses refresh requests per repository and runs them in a daemon thread."""

    def __init__(self, refresh: Refresh, delay: float = 30.0) -> None:
        self._refresh = refresh
        self._delay = delay
        self._due: dict[RepoKey, float] = {}
        self._condition = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._work, name="statistics", daemon=True)
        self._thread.start()

    def request(self, key: RepoKey) -> None:
        """Refresh ``key`` ``delay`` seconds from now (postponing a pending request)."""
        with self._condition:
            self._due[key] = time.monotonic() + self._delay
            self._condition.notify()

    def pending(self) -> int:
        with self._condition:
            return len(self._due)

    def stop(self) -> None:
        """Stop the worker; pending requests are dropped (the next start rescans)."""
        with self._condition:
            self._stopping = True
            self._condition.notify()
        self._thread.join(timeout=5.0)

    def _next(self) -> RepoKey | None:
        with self._condition:
            while not self._stopping:
                now = time.monotonic()
                ready = [key for key, due in self._due.items() if due <= now]
                if ready:
                    key = min(ready, key=self._due.__getitem__)
                    del self._due[key]
                    return key
                wait = min(self._due.values(), default=now + 3600.0) - now
                self._condition.wait(timeout=max(wait, 0.01))
            return None

    def _work(self) -> None:
        while (key := self._next()) is not None:
            try:
                self._refresh(key)
            except Exception:  # a failed refresh must not stop the worker
                log.warning(
                    "statistics refresh of %s/%s failed", key.repo_user, key.name, exc_info=True
                )
