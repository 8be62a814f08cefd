"""Running borg as a repository user, and measuring what a repository takes on disk.

borg runs with the repository user's uid, the repositories' group and no other groups,
umask 077, a private ``HOME``/``BORG_BASE_DIR`` owned by that user (removed afterwards) and
a minimal environment carrying ``BORGHIVE_MAINTENANCE=<action>``, so that the files it
writes keep their owner and the watch daemon can tell maintenance from a client.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from borghive.errors import RefusedError
from borghive.sessions.procs import MAINTENANCE_MARKER

_OUTPUT_LIMIT = 64 * 1024  # what is kept of borg's output for details and parsing


@dataclass(frozen=True)
class BorgRun:
    """One finished borg process: its exit status, output (stdout and stderr, each cut to
    64 KiB) and wall time in seconds."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float


def _environment(action: str, home: Path) -> dict[str, str]:
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "BORG_BASE_DIR": str(home),
        # The server reaches the repository by its local path, never the client's URL.
        "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes",
        "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "yes",
        MAINTENANCE_MARKER: action,
    }
    # borg's lock names its holder by host id: keep the one borghive compares with.
    host_id = os.environ.get("BORG_HOST_ID")
    if host_id:
        env["BORG_HOST_ID"] = host_id
    return env


def run_borg(borg: Path, arguments: list[str], *, uid: int, gid: int, action: str) -> BorgRun:
    """Run ``borg ARGUMENTS`` as ``uid``:``gid`` (see the module) and wait for it.

    Raises RefusedError when this process may not switch to that user (not root) or borg
    cannot be started."""
    switch = os.geteuid() != uid
    if switch and os.geteuid() != 0:
        raise RefusedError(
            f"maintenance runs borg as the repository user (uid {uid}): that needs root",
            hint="run it as root (sudo borghive …)",
        )
    home = Path(tempfile.mkdtemp(prefix="borghive-maintenance-"))
    try:
        if switch:
            os.chown(home, uid, gid)
        started = time.monotonic()
        try:
            done = subprocess.run(  # noqa: S603 - a fixed argument list, no shell
                [str(borg), *arguments],
                capture_output=True,
                env=_environment(action, home),
                cwd=home,
                stdin=subprocess.DEVNULL,
                user=uid if switch else None,
                group=gid if switch else None,
                extra_groups=[] if switch else None,
                umask=0o077,
                check=False,
            )
        except OSError as exc:
            raise RefusedError(f"cannot run {borg}: {exc.strerror or exc}") from None
        return BorgRun(
            returncode=done.returncode,
            stdout=done.stdout[-_OUTPUT_LIMIT:].decode("utf-8", "replace"),
            stderr=done.stderr[-_OUTPUT_LIMIT:].decode("utf-8", "replace"),
            seconds=time.monotonic() - started,
        )
    finally:
        shutil.rmtree(home, ignore_errors=True)


def allocated_size(path: Path) -> int:
    """Bytes allocated on disk below ``path`` (``path`` included), as ``du -s -B1`` counts
    them: every file and directory's blocks, each inode once, symbolic links not
    followed. 0 when ``path`` is missing."""
    seen: set[tuple[int, int]] = set()
    total = 0
    stack = [path]
    while stack:
        current = stack.pop()
        try:
            info = os.lstat(current)
        except OSError:
            continue
        if (info.st_dev, info.st_ino) in seen:
            continue
        seen.add((info.st_dev, info.st_ino))
        total += info.st_blocks * 512
        if stat.S_ISDIR(info.st_mode):
            try:
                with os.scandir(current) as entries:
                    stack.extend(Path(entry.path) for entry in entries)
            except OSError:
                continue
    return total
