"""The reports the store could not take when ``borghive pings`` stopped, kept in a file
until the next start writes them.

Written atomically (a temporary file beside it, fsync, rename, fsync of the directory), mode
0600: bodies are the clients' logs. JSON ``{"format": 1, "reports": [{...}, ...]}``, times in
ISO 8601 (naive UTC), so replayed reports keep the time they arrived.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path

from borghive.atomic import remove_durably, write_atomically
from borghive.service.pings.records import Report

FORMAT = 1
_FIELDS = {f.name: f.type for f in dataclasses.fields(Report)}


class SpoolError(Exception):
    """A spool file that is not one this daemon wrote (``str()`` says what is wrong)."""


def write_spool(path: Path, reports: Sequence[Report]) -> None:
    """Replace the spool at ``path`` with ``reports``. Raises OSError; the old spool is
    left as it was then."""
    items = [{**dataclasses.asdict(r), "received": r.received.isoformat()} for r in reports]
    data = json.dumps({"format": FORMAT, "reports": items}, separators=(",", ":")).encode()
    path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
    write_atomically(path, data)


def read_spool(path: Path) -> list[Report]:
    """The reports in the spool at ``path``; empty when there is none. Raises SpoolError
    for a file that is not a spool, OSError when it cannot be read."""
    try:
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return []
    try:
        body = json.loads(data)
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            raise SpoolError(f"not a spool of format {FORMAT}")
        return [_report(item) for item in body["reports"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise SpoolError(f"not a spool: {exc}"[:200]) from None


def remove_spool(path: Path) -> None:
    """Remove the spool (nothing when there is none); raises OSError."""
    remove_durably(path)


def _report(item: object) -> Report:
    if not isinstance(item, dict) or set(item) != set(_FIELDS):
        raise SpoolError("not a report")
    received = dt.datetime.fromisoformat(item["received"])
    if received.tzinfo is not None:
        raise SpoolError("not a naive UTC time")
    report = Report(**{**item, "received": received})
    if not isinstance(report.repository_id, int) or not isinstance(report.body, str):
        raise SpoolError("not a report")
    return report
