"""What a rollback moves, decided from the disk and the stored history (pure: no store,
no moving). The target is a committed transaction; everything written after its COMMIT
goes: every later segment, and the ``index.N``/``hints.N``/``integrity.N`` files (borg
rebuilds them from the segments at the next access). A target whose segments compaction
has removed since it was recorded cannot be restored and is refused, naming them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from borghive.errors import RefusedError
from borghive.segments.ranges import missing, to_ranges
from borghive.segments.reader import Transaction

INDEX_PREFIXES = ("index.", "hints.", "integrity.")


@dataclass(frozen=True)
class RollbackPlan:
    """``moves``: paths relative to the repository, in the order they are moved."""

    target: int
    newest: int
    undone: list[int]  # the transactions rolled back, newest first
    moves: list[str]


def is_index_file(name: str) -> bool:
    prefix, dot, number = name.partition(".")
    return bool(dot) and f"{prefix}." in INDEX_PREFIXES and number.isdigit()


def plan_rollback(
    shown: str,
    target: int,
    transactions: Sequence[Transaction],
    present: Sequence[int],
    root_files: Sequence[str],
    recorded_segments: str | None,
    segment_path: dict[int, str],
) -> RollbackPlan:
    """The plan for rolling ``shown`` back to transaction ``target``.

    ``transactions`` as read from disk now; ``present`` the segments on disk;
    ``root_files`` the names in the repository directory; ``recorded_segments`` the
    segments that were on disk up to the target when it was first read (None: unknown);
    ``segment_path`` the relative path of each present segment after the target (more
    may be given). Raises RefusedError."""
    numbers = [t.segment for t in transactions]
    if recorded_segments is not None:
        # Checked first: compaction may have removed the target's own commit segment.
        gone = missing(recorded_segments, present)
        if gone:
            raise RefusedError(
                f"repository {shown}: compaction has removed segments {to_ranges(gone)} "
                f"that transaction {target} needs; it cannot be restored"
            )
    if target not in numbers:
        newest = ", ".join(str(n) for n in numbers[-5:][::-1]) or "none"
        raise RefusedError(
            f"repository {shown}: {target} is not a committed transaction "
            f"(the newest are {newest})",
            hint=f"'borghive repo history {shown}' lists them",
        )
    if target == numbers[-1]:
        raise RefusedError(f"repository {shown}: transaction {target} is already the newest")
    later = [n for n in present if n > target]
    moves = [segment_path[n] for n in sorted(later)]
    moves += sorted(name for name in root_files if is_index_file(name))
    return RollbackPlan(
        target=target,
        newest=numbers[-1],
        undone=[n for n in numbers if n > target][::-1],
        moves=moves,
    )
