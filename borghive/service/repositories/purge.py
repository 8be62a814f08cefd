"""Deleting a repository's data (``repo delete --purge``): the repository user's home
directory under the repositories root, checked whole before anything is deleted.

A purge never leaves the filesystem of the repositories root (a mount point inside is
refused, not emptied), never follows a symbolic link (links are removed as links), and
meets nothing but directories, regular files and symbolic links: anything else (a device,
a FIFO, a socket) is refused. Directories are opened relative to their parent with
``O_NOFOLLOW``, so a directory swapped for a link meanwhile is not followed either.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from borghive.config import Config
from borghive.errors import BorghiveError, RefusedError

# Deeper than any borg repository (data/<n>/<segment> is three levels) by far; the bound
# keeps the walk within the open-file and recursion limits.
MAX_DEPTH = 64
RETRY_HINT = (
    "the record stays, marked as being purged and without logins; "
    "run the same command again to finish"
)
_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _kind(mode: int) -> str:
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a directory, regular file or symbolic link"


def _home(config: Config, path: Path) -> tuple[Path, os.stat_result | None, int]:
    """(home, its lstat or None when missing, the root's device); RefusedError unless the
    home resolves directly under the root."""
    home = path.parent
    root = config.repos.root.resolve()
    if home.resolve().parent != root:
        raise RefusedError(f"refusing to purge {home}: it is not directly under {root}")
    try:
        device = os.stat(root).st_dev
        found: os.stat_result | None = os.lstat(home)
    except FileNotFoundError:
        found = None
    except OSError as exc:
        raise BorghiveError(f"cannot purge {home}: {exc.strerror}") from None
    return home, found, device


def check_purge(config: Config, path: Path) -> None:
    """Check the whole home of repository ``path`` without changing anything.

    Raises RefusedError (outside the root, a regular file or other non-directory as home,
    another filesystem or a special file inside, deeper than MAX_DEPTH) or BorghiveError
    (an unreadable directory).
    """
    home, found, device = _home(config, path)
    if found is None or stat.S_ISLNK(found.st_mode):
        return
    if stat.S_ISREG(found.st_mode):
        raise RefusedError(f"refusing to purge {home}: it is a regular file, not a directory")
    _tree(home, device, remove=False)


def purge_home(config: Config, path: Path) -> None:
    """Delete the home of repository ``path`` (checked again as it goes). A symbolic link
    as home is removed, never followed. Raises as :func:`check_purge`, or BorghiveError
    (one line, with a hint to run the command again) when deleting fails."""
    home, found, device = _home(config, path)
    if found is None:
        return
    try:
        if stat.S_ISLNK(found.st_mode):
            home.unlink()
            return
        if stat.S_ISREG(found.st_mode):
            raise RefusedError(f"refusing to purge {home}: it is a regular file, not a directory")
        _tree(home, device, remove=True)
        home.rmdir()
    except OSError as exc:
        raise BorghiveError(f"cannot purge {home}: {exc.strerror}", hint=RETRY_HINT) from None
    except BorghiveError as error:
        error.hint = error.hint or RETRY_HINT
        raise


def _tree(home: Path, device: int, *, remove: bool) -> None:
    """Walk ``home``'s contents (checking, and with ``remove`` deleting them)."""
    try:
        top = os.open(home, _DIRECTORY_FLAGS)
        try:
            _directory(top, home, device, 0, remove=remove)
        finally:
            os.close(top)
    except OSError as exc:
        where = f"{home}: {exc.filename}" if isinstance(exc.filename, str) else str(home)
        raise BorghiveError(f"cannot purge {where}: {exc.strerror}") from None


def _directory(fd: int, shown: Path, device: int, depth: int, *, remove: bool) -> None:
    """Check (and with ``remove`` empty) the open directory ``fd``, shown as ``shown``."""
    if os.fstat(fd).st_dev != device:
        raise RefusedError(
            f"refusing to purge: {shown} is on another filesystem (a mount point)",
            hint="unmount it first, or move it out of the repository",
        )
    if depth > MAX_DEPTH:
        raise RefusedError(f"refusing to purge: {shown} is more than {MAX_DEPTH} levels deep")
    try:
        with os.scandir(fd) as listing:
            names = [item.name for item in listing]
    except OSError as exc:
        raise BorghiveError(f"cannot purge: cannot read {shown}: {exc.strerror}") from None
    for name in names:
        inner = shown / name
        try:
            mode = os.lstat(name, dir_fd=fd).st_mode
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise BorghiveError(f"cannot purge: {inner}: {exc.strerror}") from None
        if stat.S_ISDIR(mode):
            child = os.open(name, _DIRECTORY_FLAGS, dir_fd=fd)
            try:
                _directory(child, inner, device, depth + 1, remove=remove)
            finally:
                os.close(child)
            if remove:
                os.rmdir(name, dir_fd=fd)
        elif stat.S_ISREG(mode) or stat.S_ISLNK(mode):
            if remove:
                os.unlink(name, dir_fd=fd)
        else:
            raise RefusedError(f"refusing to purge: {inner} is {_kind(mode)}")
