"""The walk: one repository measured (allocated bytes as ``du`` counts them, apparent bytes
as the sum of its files' sizes), and the worker loop around it.

Runs in worker processes (``python -m borghive.walker.worker``) that
``walker/pool.py`` starts, feeds and kills. A request line carries a batch of paths;
the worker answers one JSON line per path, gathered for a few milliseconds.

This module imports only the standard library and nothing of the parent's pool
(subprocess, select): a worker starts in about 20 ms.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

_CONFIG_LIMIT = 1 << 20  # a borg config is a few hundred bytes; refuse to slurp more
_CONFIG_CHUNK = 4096
_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class RepositoryUsage:
    """One repository's measurement. ``status`` is ``ok``, ``unchanged`` (nothing written
    since ``--changed-since``; only the timestamps are set), ``missing``, ``timeout`` or
    ``error``; ``problem`` says what went wrong (for ``ok``: the first unreadable path)."""

    path: str
    status: str
    bytes_used: int = 0
    apparent_bytes: int = 0
    file_count: int = 0
    segment_count: int = 0
    last_access: float | None = None
    last_update: float | None = None
    initialised: bool = False
    borg_version: int | None = None
    has_key: bool = False
    locked: bool = False
    unreadable: int = 0
    problem: str | None = None
    duration: float = 0.0
    # The earliest mtime of lock.exclusive and lock.roster (epoch seconds), None unlocked:
    # how long the lock has been held, as far as the file system tells.
    lock_since: float | None = None


class _Tally:
    """Running totals of one walk, and what the repository's top level shows."""

    def __init__(self) -> None:
        self.blocks = 0
        self.apparent = 0
        self.files = 0
        self.segments = 0
        self.unreadable = 0
        self.problem: str | None = None
        # Only inodes with several links are remembered, so memory stays flat however many
        # files a tree holds (borg never hard-links inside a repository).
        self.linked: set[tuple[int, int]] = set()
        self.newest_index: float | None = None
        self.has_config = False
        self.locked = False
        self.lock_since: float | None = None

    def refused(self, path: str, error: OSError) -> None:
        self.unreadable += 1
        if self.problem is None:
            self.problem = f"cannot read {path}: {error.strerror}"

    def top_level(self, name: str, info: os.stat_result) -> None:
        """Note ``config``, ``lock.exclusive``/``lock.roster`` and the newest ``index.N``."""
        if name == "config":
            self.has_config = True
        elif name in ("lock.exclusive", "lock.roster"):
            self.locked = self.locked or name == "lock.exclusive"
            if self.lock_since is None or info.st_mtime < self.lock_since:
                self.lock_since = info.st_mtime
        elif (
            name.startswith("index.")
            and name[6:].isdigit()
            and (self.newest_index is None or info.st_mtime > self.newest_index)
        ):
            self.newest_index = info.st_mtime


def _walk(fd: int, shown: str, tally: _Tally, *, in_data: bool, top: bool = False) -> None:
    """Count everything below the open directory ``fd``: allocated blocks of every inode
    as ``du -B1`` does (directories included), and the apparent size, which is the
    ``st_size`` of every file that is not a directory (regular files, and symlinks by their
    own size, the length of the target's name; FIFOs, sockets and devices have size 0).
    Each hard-linked inode counts once; symlinks are not followed. Regular files below the
    repository's ``data/`` are segments.

    The hot loop: names from ``listdir`` and ``fstatat`` relative to the directory's fd
    (no path resolution, no DirEntry objects), counters in locals.
    """
    subdirectories: list[str] = []
    blocks = apparent = files = segments = 0
    linked = tally.linked
    lstat = os.stat
    is_directory, is_regular = stat.S_ISDIR, stat.S_ISREG
    try:
        names = os.listdir(fd)
    except OSError as error:
        tally.refused(shown, error)
        return
    for name in names:
        try:
            info = lstat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:  # removed while we looked (borg compact)
            continue
        except OSError as error:
            tally.refused(f"{shown}/{name}", error)
            continue
        mode = info.st_mode
        if is_directory(mode):
            subdirectories.append(name)
        else:
            if in_data and is_regular(mode):
                segments += 1  # by name: a hard-linked segment is still one segment
            if info.st_nlink > 1:
                identity = (info.st_dev, info.st_ino)
                if identity in linked:
                    continue
                linked.add(identity)
            files += 1
            # Directories' sizes are the file system's bookkeeping (4096 a block on ext4,
            # entries on others), not bytes a client stored: they are not apparent size.
            apparent += info.st_size
        blocks += info.st_blocks
        if top:
            tally.top_level(name, info)
    tally.blocks += blocks
    tally.apparent += apparent
    tally.files += files
    tally.segments += segments
    for name in subdirectories:
        try:
            child = os.open(name, _DIRECTORY_FLAGS, dir_fd=fd)
        except FileNotFoundError:
            continue
        except OSError as error:
            tally.refused(f"{shown}/{name}", error)
            continue
        try:
            _walk(child, f"{shown}/{name}", tally, in_data=in_data or (top and name == "data"))
        finally:
            os.close(child)


_SECTION = re.compile(r"^[ \t]*\[[ \t]*([^\]\n]*?)[ \t]*\][ \t]*$", re.M)
_VERSION = re.compile(r"^[ \t]*version[ \t]*=[ \t]*(\S*)", re.M | re.I)
_KEY = re.compile(r"^[ \t]*key[ \t]*=[ \t]*(\S?)", re.M | re.I)


def parse_borg_config(text: str) -> tuple[int | None, bool]:
    """(repository version, holds a key) from a borg ``config`` (INI). No passphrase is
    needed: a repokey is stored encrypted, but whether ``key =`` is set is plain text.
    Regular expressions over the ``[repository]`` section: configparser, even a loop over
    the lines, costs more than the walk of a small repository (the key is a kilobyte of
    base64 over several lines).
    """
    headers = list(_SECTION.finditer(text))
    for index, header in enumerate(headers):
        if header.group(1) == "repository":
            end = headers[index + 1].start() if index + 1 < len(headers) else len(text)
            body = text[header.end() : end]
            break
    else:
        return None, False
    version = _VERSION.search(body)
    key = _KEY.search(body)
    number = version.group(1) if version else ""
    return (int(number) if number.isdigit() else None), bool(key and key.group(1))


def _read_borg_config(fd: int) -> tuple[int | None, bool]:
    """:func:`parse_borg_config` of the ``config`` file in the directory ``fd``."""
    # Opened as borg opens it (blocking): a FIFO or a dead mount here hangs the worker,
    # which the parent's time limit handles.
    config = os.open("config", os.O_RDONLY | os.O_CLOEXEC, dir_fd=fd)
    chunks = []
    try:
        # Small reads: os.read(fd, n) allocates n bytes before it reads, and a 1 MiB
        # buffer per repository cost more than the walk of a small one.
        for _ in range(_CONFIG_LIMIT // _CONFIG_CHUNK):
            chunk = os.read(config, _CONFIG_CHUNK)
            chunks.append(chunk)
            if len(chunk) < _CONFIG_CHUNK:
                break
    finally:
        os.close(config)
    raw = b"".join(chunks)
    return parse_borg_config(raw.decode("utf-8", "replace"))


def _top_level(fd: int) -> _Tally:
    """What the top level of the directory ``fd`` shows (newest ``index.N`` mtime,
    ``config`` present, the lock and its age)."""
    tally = _Tally()
    for name in os.listdir(fd):
        with contextlib.suppress(OSError):
            tally.top_level(name, os.stat(name, dir_fd=fd, follow_symlinks=False))
    return tally


def measure(path: str, since: float | None = None) -> RepositoryUsage:
    """Measure the repository at ``path`` (itself followed if a symlink, nothing inside).

    ``since``: an epoch time; when neither the directory nor any ``index.N`` changed after
    it, return ``unchanged`` without walking. Never raises for filesystem errors: they
    become the ``missing``/``error`` status or count as unreadable paths.
    """
    started = time.monotonic()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return RepositoryUsage(path, "missing", problem="no such directory")
    except OSError as error:
        return RepositoryUsage(path, "error", problem=f"cannot open: {error.strerror}")
    try:
        root = os.fstat(fd)
        if since is not None:
            try:
                top = _top_level(fd)
            except OSError as error:
                return RepositoryUsage(path, "error", problem=f"cannot read: {error.strerror}")
            if max(root.st_mtime, top.newest_index or 0.0) < since:
                return RepositoryUsage(
                    path,
                    "unchanged",
                    last_access=root.st_mtime,
                    last_update=top.newest_index,
                    initialised=top.has_config,
                    locked=top.locked,
                    duration=time.monotonic() - started,
                    lock_since=top.lock_since,
                )
        tally = _Tally()
        tally.blocks = root.st_blocks  # the directory itself: allocated, not apparent
        _walk(fd, path, tally, in_data=False, top=True)
        last_update, has_config, locked = tally.newest_index, tally.has_config, tally.locked
        version, has_key = None, False
        if has_config:
            try:
                version, has_key = _read_borg_config(fd)
            except OSError as error:
                tally.refused(f"{path}/config", error)
        return RepositoryUsage(
            path,
            "ok",
            bytes_used=tally.blocks * 512,
            apparent_bytes=tally.apparent,
            file_count=tally.files,
            segment_count=tally.segments,
            last_access=root.st_mtime,
            last_update=last_update,
            initialised=has_config,
            borg_version=version,
            has_key=has_key,
            locked=locked,
            unreadable=tally.unreadable,
            problem=tally.problem,
            duration=time.monotonic() - started,
            lock_since=tally.lock_since,
        )
    finally:
        os.close(fd)


def serve(lines: Iterable[str], write: Callable[[str], Any], interval: float = 0.02) -> None:
    """The worker loop: each request line is JSON ``{"paths": [...], "since": ...}``; one
    JSON reply line per path, in order.

    Replies are written by a second thread, gathered for up to ``interval`` seconds and
    at once at the end of each request: a write (and a wake-up of the parent) per
    repository cost more than measuring a small one. The thread also writes while the
    main thread hangs in the kernel on a dead mount, so everything measured before a
    hanging path reaches the parent, which can blame the right one.
    """
    replies: list[str] = []
    urgent = False
    finished = False
    change = threading.Condition()

    def flush() -> None:
        nonlocal urgent
        while True:
            with change:
                change.wait_for(lambda: bool(replies) or finished)
                if not replies:
                    return
                if not urgent:
                    change.wait(interval)  # let more gather; woken early at a request's end
                text = "".join(replies)
                replies.clear()
                urgent = False
            write(text)

    writer = threading.Thread(target=flush, name="replies", daemon=True)
    writer.start()
    try:
        for line in lines:
            request = json.loads(line)
            for path in request["paths"]:
                usage = measure(path, request.get("since"))
                # Positional (a list in field order): decoding it costs the parent half a
                # dict.
                reply = json.dumps(list(usage.__dict__.values())) + "\n"
                with change:
                    replies.append(reply)
                    if len(replies) == 1:
                        change.notify()
            with change:
                urgent = True
                change.notify()
    finally:
        with change:
            finished = True
            urgent = True
            change.notify()
        writer.join()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve(sys.stdin, lambda text: (sys.stdout.write(text), sys.stdout.flush()))
