"""Segment entries two ways, for comparing the reader with borg: as borg's own
``debug dump-repo-objs --ghost`` lists them, and as borghive's reader reads them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from borghive.segments.reader import (
    TAG_COMMIT,
    TAG_DELETE,
    TAG_PUT,
    iter_entries,
    segment_numbers,
    segment_path,
)

Entry = tuple[int, int, int, str]  # segment, offset, tag, object id in hex ("" for COMMIT)
_DUMPED = re.compile(r"Dumping \d+_(\d+)_(\d+)_(put|del|commit)(?:_([0-9a-f]{64}))?\.obj")
_TAGS = {"put": TAG_PUT, "del": TAG_DELETE, "commit": TAG_COMMIT}


def dumped_entries(listed: subprocess.CompletedProcess[str], cwd: Path) -> list[Entry]:
    """The entries a finished ``borg debug dump-repo-objs --ghost`` (run in ``cwd``)
    listed; the object files it wrote in ``cwd`` are removed."""
    entries = []
    for line in (listed.stdout + listed.stderr).splitlines():
        match = _DUMPED.fullmatch(line.strip())
        if match:
            segment, offset, tag, object_id = match.groups()
            entries.append((int(segment), int(offset), _TAGS[tag], object_id or ""))
    for dumped in cwd.iterdir():
        dumped.unlink()
    return entries


def reader_entries(repo: Path) -> list[Entry]:
    """Every entry of every segment of ``repo``, as borghive's reader reads them."""
    return [
        (number, entry.offset, entry.tag, entry.object_id.hex() if entry.object_id else "")
        for number in segment_numbers(repo)
        for entry in iter_entries(segment_path(repo, number))
    ]
