"""Files replaced whole or not at all: written beside their place under a temporary name
(``.NAME.XXXX.tmp``: unique, so writers do not collide, and ignored by collectors such as
node_exporter's that read ``*.prom``), fsynced, renamed over it, and the rename made
durable by an fsync of the directory. Used for the daemons' spools, the metrics file and
rollback manifests."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def sync_directory(path: Path) -> None:
    """Make a rename or unlink in ``path`` durable (nothing when it is gone)."""
    with contextlib.suppress(FileNotFoundError):
        descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def write_atomically(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` (``mode``). Raises OSError; ``path`` is then as it
    was and no temporary file is left."""
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
    )
    try:
        try:
            os.fchmod(descriptor, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view) :]
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    sync_directory(path.parent)


def remove_durably(path: Path) -> None:
    """Remove ``path`` (nothing when there is none) and make that durable; raises OSError."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sync_directory(path.parent)
