"""What a ping becomes: a :class:`Report` for the writer, and the words of its event."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

EVENT_OF_KIND = {"start": "client-start", "success": "client-success", "fail": "client-fail"}


@dataclass(frozen=True)
class Report:
    """One accepted ping, as received: the repository (store id) its token names, the
    kind (start, success, fail, log), run id, exit status, the body kept (already cut to
    pings.body_limit: ``body_truncated``), the client's address and when it arrived
    (naive UTC)."""

    repository_id: int
    kind: str
    run_id: str | None
    exit_status: int | None
    body: str
    body_truncated: bool
    source: str | None
    received: dt.datetime


def body_text(data: bytes, limit: int, truncated: bool) -> tuple[str, bool]:
    """The text kept of a body: its first ``limit`` bytes as UTF-8 (undecodable bytes and
    NUL, which PostgreSQL's text refuses, become U+FFFD), and whether it was cut."""
    kept = data[:limit]
    cut = truncated or len(data) > limit
    if cut:
        # Do not leave half a character at the cut.
        kept = kept.decode("utf-8", "ignore").encode() if _ends_mid_character(kept) else kept
    return kept.decode("utf-8", "replace").replace("\x00", "\ufffd"), cut


def _ends_mid_character(data: bytes) -> bool:
    try:
        data[-4:].decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def event_detail(report: Report, duration: float | None) -> str:
    """The detail of a report's event: ``exit status 1, took 42.0s``; ``""`` when nothing
    is known."""
    parts = []
    if report.exit_status is not None:
        parts.append(f"exit status {report.exit_status}")
    if duration is not None:
        parts.append(f"took {duration:.1f}s")
    return ", ".join(parts)
