"""Sets of segment numbers written as ranges (``0-41,43,45-50``): how the store keeps which
segments were on disk when a transaction was read."""

from __future__ import annotations

from collections.abc import Iterable

MAX_TEXT = 1 << 20  # a stored value longer than this is not ours


def to_ranges(numbers: Iterable[int]) -> str:
    """Sorted, merged ranges of non-negative numbers; empty text for none."""
    parts: list[str] = []
    start = previous = None
    for number in sorted(set(numbers)):
        if previous is not None and number == previous + 1:
            previous = number
            continue
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = number
    if start is not None:
        parts.append(str(start) if start == previous else f"{start}-{previous}")
    return ",".join(parts)


def from_ranges(text: str) -> list[tuple[int, int]]:
    """The (first, last) pairs of ``text``; raises ValueError on anything else."""
    if len(text) > MAX_TEXT:
        raise ValueError("segment ranges too long")
    pairs: list[tuple[int, int]] = []
    for part in text.split(",") if text else []:
        first, dash, last = part.partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            raise ValueError(f"not a segment range: {part[:40]!r}")
        low, high = int(first), int(last) if dash else int(first)
        if high < low:
            raise ValueError(f"not a segment range: {part[:40]!r}")
        pairs.append((low, high))
    return pairs


def missing(recorded: str, present: Iterable[int]) -> list[int]:
    """The numbers in ``recorded`` that are not in ``present`` (at most 10,000 of them,
    enough to name what compaction removed)."""
    now = set(present)
    gone: list[int] = []
    for low, high in from_ranges(recorded):
        for number in range(low, high + 1):
            if number not in now:
                gone.append(number)
                if len(gone) >= 10_000:
                    return gone
    return gone
