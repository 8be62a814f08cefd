"""Transactions from a borg 1.x repository's segment log, without the key.

A segment (``data/<n // segments_per_dir>/<n>``, borg 1.2 and 1.4 ``LoggedIO``) starts with
the magic ``BORG_SEG``, then entries: a header ``<IIB`` (crc32, size, tag), and for PUT (0)
and DELETE (1) a 32-byte object id (``<IIB32s``); COMMIT (2) is a bare 9-byte header.
``size`` covers the whole entry. The payload is encrypted, the structure is not: reading
the headers and seeking over the payloads gives every transaction's puts, deletes and
bytes without loading object data. A transaction is everything up to and including a
COMMIT; borg names it by the segment the COMMIT is in.

borg writes an object again (the manifest, at every commit of a client) as a DELETE of its
id directly followed by a PUT of the same id. That is an overwrite, not a deletion: it is
counted as a put only, so ``deletes`` counts the objects a transaction removed.

Entries after the last COMMIT belong to a transaction not (yet) committed: a client still
writing, or one killed mid-way (borg discards them at the next open). They are reported
as ``pending``, never as a transaction. Standard library only.
"""

from __future__ import annotations

import os
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"BORG_SEG"
TAG_PUT, TAG_DELETE, TAG_COMMIT = 0, 1, 2
_HEADER = struct.Struct("<IIB")
_ID_SIZE = 32
# borg's MAX_OBJECT_SIZE (constants.py, 1.2 and 1.4): 20 MiB for data plus the PUT header.
MAX_ENTRY_SIZE = 20 * 1024 * 1024
DEFAULT_SEGMENTS_PER_DIR = 1000


class SegmentError(Exception):
    """A segment that is not borg's: bad magic, an impossible entry."""


@dataclass(frozen=True)
class Entry:
    """One segment entry: its tag, where it starts, its whole size, and the object id."""

    tag: int
    offset: int
    size: int
    object_id: bytes | None


@dataclass(frozen=True)
class Transaction:
    """One committed transaction. ``segment``/``offset`` locate its COMMIT entry; ``first_segment``
    is where its first entry is; ``time`` is the mtime of the commit's segment (seconds since
    the epoch, borg writes the commit last)."""

    segment: int
    offset: int
    first_segment: int
    time: float
    puts: int
    deletes: int
    bytes_added: int


@dataclass
class Cursor:
    """Where the next read starts: just after the last COMMIT read (segment, offset;
    segment -1 for the beginning), and how much was read so far (segments opened, header
    bytes read), for reports and benchmarks."""

    segment: int = -1
    offset: int = 0
    segments: int = 0
    bytes_read: int = 0


@dataclass(frozen=True)
class ReadResult:
    transactions: list[Transaction]
    cursor: Cursor
    pending_puts: int
    pending_deletes: int
    pending_bytes: int


def _open_regular(path: Path) -> int:
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise SegmentError(f"{path}: not a regular file")
    return fd


def iter_entries(path: Path, start: int = 0) -> Iterator[Entry]:
    """Every complete entry of the segment at ``path`` from ``start`` (0: check the magic
    first). Reads 41 bytes per entry at most. A truncated last entry (a write cut off) ends
    the iteration; an impossible header raises SegmentError naming the offset."""
    fd = _open_regular(path)
    try:
        length = os.fstat(fd).st_size
        offset = start
        if offset == 0:
            if length < len(MAGIC):
                return  # a segment borg has just created: nothing written in it yet
            if os.pread(fd, len(MAGIC), 0) != MAGIC:
                raise SegmentError(f"{path}: not a borg segment (bad magic)")
            offset = len(MAGIC)
        while offset + _HEADER.size <= length:
            head = os.pread(fd, _HEADER.size + _ID_SIZE, offset)
            _crc, size, tag = _HEADER.unpack_from(head)
            if tag not in (TAG_PUT, TAG_DELETE, TAG_COMMIT):
                raise SegmentError(f"{path}: unknown entry tag {tag} at offset {offset}")
            minimum = _HEADER.size + (_ID_SIZE if tag != TAG_COMMIT else 0)
            if not minimum <= size <= MAX_ENTRY_SIZE:
                raise SegmentError(f"{path}: impossible entry size {size} at offset {offset}")
            if offset + size > length:
                return  # cut off: the rest was never completely written
            object_id = head[_HEADER.size : _HEADER.size + _ID_SIZE] if tag != TAG_COMMIT else None
            yield Entry(tag, offset, size, object_id)
            offset += size
    finally:
        os.close(fd)


def segments_per_dir(repository: Path) -> int:
    """``segments_per_dir`` from the repository's config (borg's default when absent)."""
    try:
        fd = _open_regular(repository / "config")
    except (OSError, SegmentError):
        return DEFAULT_SEGMENTS_PER_DIR
    try:
        text = os.read(fd, 1 << 16).decode("utf-8", "replace")
    finally:
        os.close(fd)
    for line in text.splitlines():
        name, equals, value = line.partition("=")
        if equals and name.strip() == "segments_per_dir" and value.strip().isdigit():
            return max(1, int(value.strip()))
    return DEFAULT_SEGMENTS_PER_DIR


def segment_numbers(repository: Path, after: int = -1) -> list[int]:
    """The segment numbers on disk greater than or equal to ``after`` (numeric order)."""
    data = repository / "data"
    per_dir = segments_per_dir(repository)
    found: list[int] = []
    try:
        directories = [d for d in os.listdir(data) if d.isdigit()]
    except OSError:
        return found
    for directory in sorted(directories, key=int):
        if after >= 0 and (int(directory) + 1) * per_dir <= after:
            continue  # everything in it is older than the cursor
        try:
            names = os.listdir(data / directory)
        except OSError:
            continue
        found.extend(int(name) for name in names if name.isdigit() and int(name) >= after)
    return sorted(found)


def segment_path(repository: Path, number: int, per_dir: int | None = None) -> Path:
    per = per_dir or segments_per_dir(repository)
    return repository / "data" / str(number // per) / str(number)


def read_transactions(repository: Path, cursor: Cursor | None = None) -> ReadResult:
    """The transactions committed after ``cursor`` (None: from the beginning), and the new
    cursor. Only segments at or after the cursor's are opened. A segment that vanished
    since (compaction) is skipped; a cursor whose segment is gone restarts at the next one."""
    start = cursor or Cursor()
    per_dir = segments_per_dir(repository)
    transactions: list[Transaction] = []
    puts = deletes = added = 0
    first: int | None = None
    held: bytes | None = None  # a DELETE's id, until the next entry tells an overwrite
    last_segment, last_offset = start.segment, start.offset
    segments = 0
    bytes_read = 0
    for number in segment_numbers(repository, max(start.segment, 0) if start.segment >= 0 else -1):
        path = segment_path(repository, number, per_dir)
        offset = start.offset if number == start.segment else 0
        try:
            mtime = path.stat().st_mtime
            entries = list(iter_entries(path, offset))
        except FileNotFoundError:
            continue
        segments += 1
        for entry in entries:
            bytes_read += _HEADER.size + (_ID_SIZE if entry.object_id is not None else 0)
            if first is None:
                first = number
            if held is not None:
                overwrite = entry.tag == TAG_PUT and entry.object_id == held
                deletes += not overwrite
                held = None
            if entry.tag == TAG_PUT:
                puts += 1
                added += entry.size
            elif entry.tag == TAG_DELETE:
                held = entry.object_id
            else:
                transactions.append(
                    Transaction(number, entry.offset, first, mtime, puts, deletes, added)
                )
                puts = deletes = added = 0
                first = None
                last_segment, last_offset = number, entry.offset + entry.size
    result_cursor = Cursor(
        last_segment, last_offset, start.segments + segments, start.bytes_read + bytes_read
    )
    return ReadResult(transactions, result_cursor, puts, deletes + (held is not None), added)
