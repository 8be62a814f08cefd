"""Sizes (``500M``, ``1.5T``) and durations (``36h``, ``3d``) as people write them."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from borghive.errors import InvalidInputError
from borghive.rules.bounds import DURATION, SIZE, Bound

# Decimal units, as borg's --storage-quota counts them.
_SIZE_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15}
_SIZE = re.compile(r"(\d{1,15}(?:\.\d{1,6})?)([KMGTP]?)B?", re.IGNORECASE | re.ASCII)
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION_PART = re.compile(r"(\d{1,6})([smhdw])", re.ASCII)
MAX_DURATION = int(DURATION.high)  # ten years


def parse_size(text: str) -> int:
    """Bytes from ``500M``, ``2G``, ``1.5T`` or a plain byte count (decimal units).

    Raises InvalidInputError for anything else, zero, or more than 1000 PB (``SIZE``).
    """
    match = _SIZE.fullmatch(text.strip())
    if not match:
        raise InvalidInputError(
            f"invalid size {text!r}: expected a number with an optional unit K, M, G, T or P "
            "(e.g. 500M, 1.5T)"
        )
    try:
        value = Decimal(match.group(1)) * _SIZE_UNITS[match.group(2).upper()]
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise InvalidInputError(f"invalid size {text!r}") from None
    if value < 1:
        raise InvalidInputError(f"invalid size {text!r}: must be at least 1 byte")
    if value > SIZE.high:
        raise InvalidInputError(f"invalid size {text!r}: too large")
    return int(value)


def format_size(size: int | None) -> str:
    """``1500000000`` → ``1.5G``; None → ``-``."""
    if size is None:
        return "-"
    for unit in ("P", "T", "G", "M", "K"):
        factor = _SIZE_UNITS[unit]
        if size >= factor:
            return f"{size / factor:.1f}".rstrip("0").rstrip(".") + unit
    return f"{size}B"


def parse_duration(text: str, bound: Bound = DURATION) -> int:
    """Seconds from ``36h``, ``3d``, ``1w2d``, ``90m``, at most ``bound.high`` (ten years
    unless the caller's bound is tighter); raise InvalidInputError otherwise."""
    stripped = text.strip().lower()
    parts = _DURATION_PART.findall(stripped)
    if not parts or "".join(n + u for n, u in parts) != stripped:
        raise InvalidInputError(
            f"invalid duration {text!r}: expected a number and a unit s, m, h, d or w "
            "(e.g. 36h, 3d)"
        )
    seconds = sum(int(number) * _DURATION_UNITS[unit] for number, unit in parts)
    if seconds <= 0:
        raise InvalidInputError(f"invalid duration {text!r}: must be longer than zero")
    if seconds > bound.high:
        limit = "ten years" if bound.high == MAX_DURATION else format_duration(int(bound.high))
        raise InvalidInputError(f"invalid duration {text!r}: longer than {limit}")
    return seconds


def format_duration(seconds: int | None) -> str:
    """``129600`` → ``1d12h``; None → ``-``."""
    if seconds is None:
        return "-"
    parts = []
    remaining = seconds
    for unit in ("w", "d", "h", "m", "s"):
        count, remaining = divmod(remaining, _DURATION_UNITS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def format_age(seconds: float) -> str:
    """An age for messages: whole minutes (``1d2h5m``), or seconds when under a minute
    (an alert period of seconds must not read "after 0s"); negative ages are 0s."""
    whole = max(0, int(seconds))
    return format_duration(whole if whole < 60 else whole // 60 * 60)
