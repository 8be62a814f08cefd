"""Synthetic borg repositories for the history benchmark: segments in borg 1.x's exact
entry format (``BORG_SEG``, then ``<IIB`` headers, 32-byte ids, payloads) whose payloads
are holes, so a 20 GB repository takes a few hundred MB of disk and seconds to write.

The crc32 fields are zero and the payloads are zeros: ``borg check`` verifies both, so
borg itself refuses such a repository. What it is good for is the reader, which reads
headers only; :func:`plan_of` and :func:`build` let the benchmark rebuild a real
repository the same way and compare what the reader makes of both.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

from borghive.segments.reader import (
    MAGIC,
    TAG_COMMIT,
    TAG_PUT,
    iter_entries,
    segment_numbers,
    segment_path,
)

Entry = tuple[int, int, bytes | None]  # tag, whole entry size, object id
_HEADER = struct.Struct("<IIB")
BORG_MAX_SEGMENT_SIZE = 524_288_000  # borg 1.2/1.4's default max_segment_size


def plan_of(repository: Path) -> Iterator[tuple[int, list[Entry]]]:
    """Every segment of a real repository as (number, its entries)."""
    for number in segment_numbers(repository):
        entries = iter_entries(segment_path(repository, number))
        yield number, [(e.tag, e.size, e.object_id) for e in entries]


def synthetic_plan(
    objects: int, total_bytes: int, per_transaction: int
) -> Iterator[tuple[int, list[Entry]]]:
    """``objects`` PUTs of equal size adding up to ``total_bytes``, a COMMIT after every
    ``per_transaction``, segments closed past borg's default size or at a commit (as
    borg's LoggedIO does)."""
    size = total_bytes // objects
    number, entries, offset = 1, [], len(MAGIC)
    for index in range(objects):
        if offset + size > BORG_MAX_SEGMENT_SIZE and entries:
            yield number, entries
            number, entries, offset = number + 1, [], len(MAGIC)
        object_id = hashlib.sha256(index.to_bytes(8, "little")).digest()
        entries.append((TAG_PUT, size, object_id))
        offset += size
        if (index + 1) % per_transaction == 0 or index + 1 == objects:
            entries.append((TAG_COMMIT, _HEADER.size, None))
            yield number, entries
            number, entries, offset = number + 1, [], len(MAGIC)


def build(repository: Path, plan: Iterable[tuple[int, list[Entry]]]) -> int:
    """Write ``plan``'s segments under ``repository/data`` (and a minimal config); returns
    the apparent size of the segments written."""
    (repository / "data").mkdir(parents=True)
    (repository / "config").write_text(
        "[repository]\nversion = 1\nsegments_per_dir = 1000\n"
        f"max_segment_size = {BORG_MAX_SEGMENT_SIZE}\nappend_only = 0\n"
        f"id = {os.urandom(32).hex()}\n"
    )
    total = 0
    for number, entries in plan:
        path = segment_path(repository, number, 1000)
        path.parent.mkdir(exist_ok=True)
        with path.open("wb") as handle:
            handle.write(MAGIC)
            offset = len(MAGIC)
            for tag, size, object_id in entries:
                handle.write(_HEADER.pack(0, size, tag) + (object_id or b""))
                offset += size
                handle.seek(offset)  # the payload: a hole
            handle.truncate(offset)
        total += offset
    return total
