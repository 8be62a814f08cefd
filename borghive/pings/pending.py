"""The reports accepted but not yet in the store, between the server (asyncio) and the
writer thread.

Bounded twice: by count and by the characters of the bodies held, so an outage of the store
cannot take the daemon's memory; past either bound the oldest reports are dropped and
counted. Retries back off exponentially; the clock is passed in.
"""

from __future__ import annotations

import threading
from collections import deque

from borghive.service.pings.records import Report

FIRST_DELAY = 0.5
MAX_DELAY = 15.0


class Pending:
    """Reports waiting for the store, oldest first. Safe to use from two threads."""

    def __init__(self, limit: int = 10_000, byte_limit: int = 64 * 1024 * 1024) -> None:
        self.limit = limit
        self.byte_limit = byte_limit
        self.reports: deque[Report] = deque()
        self.bytes = 0
        self.dropped = 0
        self.failures = 0
        self.retry_at = 0.0
        self.ready = threading.Condition()

    def add(self, report: Report) -> None:
        """Queue a report (from the event loop: never blocks for long) and wake the writer."""
        with self.ready:
            self.reports.append(report)
            self.bytes += len(report.body)
            while len(self.reports) > self.limit or self.bytes > self.byte_limit:
                old = self.reports.popleft()
                self.bytes -= len(old.body)
                self.dropped += 1
            self.ready.notify()

    def add_front(self, reports: list[Report]) -> None:
        """Reports read back from the spool, before anything received since."""
        with self.ready:
            self.reports.extendleft(reversed(reports))
            self.bytes += sum(len(r.body) for r in reports)
            self.ready.notify()

    def take(self, most: int) -> list[Report]:
        """The oldest ``most`` reports (left in place until :meth:`written`)."""
        with self.ready:
            return [self.reports[i] for i in range(min(most, len(self.reports)))]

    def written(self, reports: list[Report]) -> None:
        """The reports :meth:`take` gave are in the store (or were dropped on purpose)."""
        with self.ready:
            for report in reports:
                # A report dropped past the bound meanwhile is not at the front any more.
                if self.reports and self.reports[0] is report:
                    self.reports.popleft()
                    self.bytes -= len(report.body)
            self.failures = 0
            self.retry_at = 0.0

    def failed(self, now: float) -> float:
        """A write failed: schedule the next try; returns the delay."""
        with self.ready:
            delay = min(MAX_DELAY, FIRST_DELAY * 2.0**self.failures)
            self.failures += 1
            self.retry_at = now + delay
            return delay

    def due(self, now: float) -> bool:
        with self.ready:
            return bool(self.reports) and now >= self.retry_at

    def __len__(self) -> int:
        with self.ready:
            return len(self.reports)

    def wait(self, seconds: float) -> None:
        """Sleep until a report arrives or ``seconds`` pass."""
        with self.ready:
            if not self.reports or self.failures:
                self.ready.wait(seconds)

    def wake(self) -> None:
        with self.ready:
            self.ready.notify()
