"""Maintenance schedules: how often (``7d``, ``never``) and in which hours of the day
(``01:00-05:00``, may wrap past midnight). Pure functions, no clock: callers pass the time."""

from __future__ import annotations

import datetime as dt
import re

from borghive.errors import InvalidInputError
from borghive.rules.quantities import format_duration, parse_duration

NEVER = 0  # stored for "never"; None in the store means "the configured default"
_WINDOW = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)", re.ASCII)


def parse_every(text: str) -> int:
    """Seconds between runs from a duration, or :data:`NEVER` (0) for ``never``; raises
    InvalidInputError naming what is wrong."""
    if text.strip().lower() == "never":
        return NEVER
    return parse_duration(text)


def format_every(seconds: int | None) -> str:
    """0 → ``never``; None → ``-``; else the duration (``7d``)."""
    if seconds == NEVER:
        return "never"
    return format_duration(seconds)


def parse_window(text: str) -> tuple[int, int] | None:
    """``HH:MM-HH:MM`` → (start, end) in minutes after midnight; empty → None (any time).
    A window whose end is before its start wraps past midnight; equal ends are refused
    (say nothing for "always")."""
    stripped = text.strip()
    if not stripped:
        return None
    match = _WINDOW.fullmatch(stripped)
    if match is None:
        raise InvalidInputError(
            f"invalid window {text[:40]!r}: expected HH:MM-HH:MM, e.g. 01:00-05:00"
        )
    start = int(match.group(1)) * 60 + int(match.group(2))
    end = int(match.group(3)) * 60 + int(match.group(4))
    if start == end:
        raise InvalidInputError(
            f"invalid window {text[:40]!r}: start and end are equal (leave it empty for any time)"
        )
    return start, end


def in_window(window: tuple[int, int] | None, local: dt.datetime) -> bool:
    """Whether the local time ``local`` is inside ``window`` (None: always)."""
    if window is None:
        return True
    start, end = window
    minute = local.hour * 60 + local.minute
    if start < end:
        return start <= minute < end
    return minute >= start or minute < end
