"""What the daemon still has to write to the store, kept while the store is away.

Events wait in a bounded queue (the oldest are dropped past ``limit``, and counted); times
wait in a map with one entry per repository, so they are bounded by the tree. Retries
back off exponentially; the caller logs each outage once (``outage_started`` tells when).
The clock is passed in, so this is tested without sleeping. ``spooled`` counts the events
at the front that came from the spool file and are still in it: while there are any, a
write must not duplicate an event a crashed earlier replay already stored.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from borghive.service.events.records import (
    EventRecord,
    RepoKey,
    RepoTimes,
    SessionRecord,
    SessionRef,
)

FIRST_DELAY = 0.5
MAX_DELAY = 15.0


@dataclass
class Outbox:
    limit: int = 10_000
    events: deque[EventRecord] = field(default_factory=deque)
    times: dict[RepoKey, RepoTimes] = field(default_factory=dict)
    dropped: int = 0
    failures: int = 0
    retry_at: float = 0.0
    spooled: int = 0
    # Sessions wait merged, one entry per session (bounded by the live ones and those
    # ended while the store was away); ``alive`` is the last word on which of this host's
    # sessions live, so that the store can end the others (a restart's leftovers).
    sessions: dict[SessionRef, SessionRecord] = field(default_factory=dict)
    alive: frozenset[SessionRef] | None = None
    alive_pending: bool = False

    def add_event(self, record: EventRecord) -> None:
        if len(self.events) >= self.limit:
            self.events.popleft()
            self.dropped += 1
            self.spooled = max(0, self.spooled - 1)
        self.events.append(record)

    def add_spooled(self, records: list[EventRecord]) -> None:
        """Events read back from the spool, put before anything observed since."""
        self.events.extendleft(reversed(records))
        self.spooled += len(records)
        while len(self.events) > self.limit:
            self.events.pop()
            self.dropped += 1
        self.spooled = min(self.spooled, len(self.events))

    def add_times(self, key: RepoKey, times: RepoTimes) -> None:
        previous = self.times.get(key)
        if (
            previous is not None
            and previous.maintenance
            and not times.maintenance
            and previous.last_update == times.last_update
        ):
            # The same maintenance commit read again before the flush: still maintenance's.
            times = RepoTimes(times.last_access, times.last_update, maintenance=True, carried=True)
        self.times[key] = times

    def add_session(self, record: SessionRecord) -> None:
        known = self.sessions.get(record.ref)
        self.sessions[record.ref] = record if known is None else known.merged(record)

    def set_alive(self, alive: frozenset[SessionRef]) -> None:
        if alive != self.alive or self.alive is None:
            self.alive_pending = True
        self.alive = alive

    def take_sessions(self) -> tuple[dict[SessionRef, SessionRecord], frozenset[SessionRef] | None]:
        """The session records pending, and ``alive`` when it changed since last written."""
        return dict(self.sessions), (self.alive if self.alive_pending else None)

    def sessions_written(
        self, taken: dict[SessionRef, SessionRecord], alive: frozenset[SessionRef] | None
    ) -> None:
        for ref, record in taken.items():
            if self.sessions.get(ref) == record:
                del self.sessions[ref]
        if alive is not None and alive == self.alive:
            self.alive_pending = False

    def forget(self, key: RepoKey) -> None:
        """Drop pending times of a repository directory that is gone."""
        self.times.pop(key, None)

    @property
    def pending(self) -> bool:
        return bool(self.events or self.times or self.sessions or self.alive_pending)

    @property
    def in_outage(self) -> bool:
        return self.failures > 0

    def due(self, now: float) -> bool:
        """Whether a write should be tried now."""
        return self.pending and now >= self.retry_at

    def take(self) -> tuple[list[EventRecord], dict[RepoKey, RepoTimes]]:
        """Everything pending (left in place until :meth:`written`)."""
        return list(self.events), dict(self.times)

    def written(self, event_count: int, times: dict[RepoKey, RepoTimes]) -> None:
        """The first ``event_count`` events and these times are in the store."""
        for _ in range(event_count):
            self.events.popleft()
        self.spooled = max(0, self.spooled - event_count)
        for key, value in times.items():
            if self.times.get(key) == value:
                del self.times[key]
        self.failures = 0
        self.retry_at = 0.0

    def failed(self, now: float) -> float:
        """A write failed: schedule the next try; returns the delay."""
        delay = min(MAX_DELAY, FIRST_DELAY * 2.0**self.failures)
        self.failures += 1
        self.retry_at = now + delay
        return delay
