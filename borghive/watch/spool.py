"""The spool: events the store could not take when the daemon stopped, kept in a file until
the next start writes them.

Written atomically (a temporary file beside it, fsync, rename, fsync of the directory), so
the file is always a whole old spool or a whole new one, never a torn one. The file is
JSON: ``{"format": 1, "events": [[repo_user, name, kind, time, detail], ...]}`` with each
time in ISO 8601 (naive UTC, to the microsecond), so replayed events keep the time they
were observed. Times of last access/update are not spooled: the start-up scan reads them
from disk again.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Sequence
from pathlib import Path

from borghive.atomic import remove_durably, write_atomically
from borghive.service.events.records import EventRecord, RepoKey

FORMAT = 1


class SpoolError(Exception):
    """A spool file that is not one this daemon wrote (``str()`` says what is wrong)."""


def write_spool(path: Path, events: Sequence[EventRecord]) -> None:
    """Replace the spool at ``path`` with ``events`` (mode 0600, the directory made when
    missing). Raises OSError when it cannot be written; the old spool is left as it was."""
    body = {
        "format": FORMAT,
        "events": [
            [e.key.repo_user, e.key.name, e.kind, e.time.isoformat(), e.detail] for e in events
        ],
    }
    data = json.dumps(body, separators=(",", ":")).encode()
    path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
    write_atomically(path, data)


def read_spool(path: Path, kinds: Collection[str]) -> list[EventRecord]:
    """The events in the spool at ``path``; empty when there is none. Raises SpoolError
    when the file is not a spool or names an event kind not in ``kinds``, OSError when it
    cannot be read."""
    try:
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):  # no spool (writing one would fail)
        return []
    try:
        body = json.loads(data)
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            raise SpoolError(f"not a spool of format {FORMAT}")
        records = [_record(item) for item in body["events"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise SpoolError(f"not a spool: {exc}") from None
    for record in records:
        if record.kind not in kinds:
            raise SpoolError(f"unknown event kind {record.kind!r}")
    return records


def remove_spool(path: Path) -> None:
    """Remove the spool (nothing when there is none); raises OSError."""
    remove_durably(path)


def _record(item: object) -> EventRecord:
    if not isinstance(item, list) or len(item) != 5 or not all(isinstance(v, str) for v in item):
        raise SpoolError(f"not an event: {item!r}"[:200])
    repo_user, name, kind, time, detail = item
    moment = dt.datetime.fromisoformat(time)
    if moment.tzinfo is not None:
        raise SpoolError(f"not a naive UTC time: {time!r}")
    return EventRecord(RepoKey(repo_user, name), kind, moment, detail)
