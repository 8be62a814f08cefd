"""Disk usage of borg repositories, measured the way ``du`` counts, in killable workers.

The walk itself (:func:`measure`) runs in worker processes (``python -m
borghive.service.usage``): a request line carries a batch of paths, and the worker answers
one JSON line per path, gathered for a few milliseconds. Why processes and not a thread pool: a
thread blocked in ``stat``/``open`` on a dead NFS or FUSE mount (or opening a FIFO) cannot
be interrupted or killed, and Python waits for every non-daemon thread at exit, so one
hanging path would hang the run; and walking is CPU-bound Python, which threads would run
one at a time. The parent is a single ``select`` loop over the workers' pipes (no threads):
each worker's oldest unanswered path has a deadline; past it the worker is killed
(SIGKILL), that repository is reported as ``timeout`` and the paths queued behind it go
to a fresh worker. A process stuck in uninterruptible sleep dies when its I/O returns; the
run does not wait for it.

This module imports only the standard library: workers start in about 20 ms.
"""

from __future__ import annotations

import collections
import contextlib
import json
import math
import os
import re
import select
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
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

    def refused(self, path: str, error: OSError) -> None:
        self.unreadable += 1
        if self.problem is None:
            self.problem = f"cannot read {path}: {error.strerror}"

    def top_level(self, name: str, info: os.stat_result) -> None:
        """Note ``config``, ``lock.exclusive`` and the newest ``index.N``."""
        if name == "config":
            self.has_config = True
        elif name == "lock.exclusive":
            self.locked = True
        elif (
            name.startswith("index.")
            and name[6:].isdigit()
            and (self.newest_index is None or info.st_mtime > self.newest_index)
        ):
            self.newest_index = info.st_mtime


def _walk(fd: int, shown: str, tally: _Tally, *, in_data: bool, top: bool = False) -> None:
    """Count everything below the open directory ``fd`` as ``du`` does: allocated blocks
    and apparent sizes, each hard-linked inode once, symlinks not followed. Regular files
    below the repository's ``data/`` are segments.

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
        blocks += info.st_blocks
        apparent += info.st_size
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


def _top_level(fd: int) -> tuple[float | None, bool, bool]:
    """(newest ``index.N`` mtime, ``config`` present, ``lock.exclusive`` present)."""
    tally = _Tally()
    for name in os.listdir(fd):
        with contextlib.suppress(OSError):
            tally.top_level(name, os.stat(name, dir_fd=fd, follow_symlinks=False))
    return tally.newest_index, tally.has_config, tally.locked


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
                last_update, has_config, locked = _top_level(fd)
            except OSError as error:
                return RepositoryUsage(path, "error", problem=f"cannot read: {error.strerror}")
            if max(root.st_mtime, last_update or 0.0) < since:
                return RepositoryUsage(
                    path,
                    "unchanged",
                    last_access=root.st_mtime,
                    last_update=last_update,
                    initialised=has_config,
                    locked=locked,
                    duration=time.monotonic() - started,
                )
        tally = _Tally()
        tally.blocks, tally.apparent = root.st_blocks, root.st_size
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


class _Worker:
    """One worker process, the paths sent to it and not answered yet, and its deadline."""

    def __init__(self, command: Sequence[str]) -> None:
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            list(command),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            start_new_session=True,  # a ^C at the terminal is the parent's to handle
        )
        self.out = self.process.stdout.fileno() if self.process.stdout else -1
        self.buffer = b""
        self.pending: collections.deque[str] = collections.deque()
        self.deadline = math.inf
        self.killed = False

    def send(self, paths: list[str], since: float | None, limit: float) -> None:
        """Queue ``paths`` on the worker; the first unanswered one has ``limit`` seconds."""
        if self.process.stdin is None:  # pragma: no cover - always a pipe
            raise EOFError("worker has no stdin")
        if not self.pending:
            self.deadline = time.monotonic() + limit
        self.pending.extend(paths)
        self.process.stdin.write((json.dumps({"paths": paths, "since": since}) + "\n").encode())
        self.process.stdin.flush()

    def receive(self, limit: float) -> list[RepositoryUsage]:
        """Read what is ready (call when the pipe is readable); raise EOFError at exit."""
        chunk = os.read(self.out, 1 << 16)
        if not chunk:
            raise EOFError(f"worker exited with status {self.process.wait()}")
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        results = []
        for line in lines:
            results.append(RepositoryUsage(*json.loads(line)))
            self.pending.popleft()
            self.deadline = time.monotonic() + limit  # the next path's clock starts now
        return results

    def kill(self) -> None:
        """Kill without waiting: a worker in uninterruptible sleep cannot be reaped yet."""
        self.killed = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        for pipe in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError):
                if pipe is not None:
                    pipe.close()

    def finish(self) -> None:
        """Tell the worker there is no more work (end of its input)."""
        with contextlib.suppress(OSError):
            if self.process.stdin is not None:
                self.process.stdin.close()

    def close(self) -> None:
        """Reap the worker after :meth:`finish`, killing it if it lingers; a killed one
        that cannot die yet (uninterruptible sleep) is left to the kernel."""
        if self.killed:
            self.process.poll()  # reaped if it is gone already; never waited for
        else:
            self.finish()
            try:
                self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.process.stdout is not None:
            self.process.stdout.close()


def worker_command(prefix: Sequence[str] = ()) -> list[str]:
    """The command that starts one worker; ``prefix`` runs it differently (``setpriv``)."""
    return [*prefix, sys.executable, "-m", "borghive.service.usage"]


class Walkers:
    """A pool of ``jobs`` worker processes. They are started at once, so that they boot
    while the caller still reads the store; :meth:`measure` starts more when some die.
    Use as a context manager: leaving it ends (or kills) every worker."""

    def __init__(self, jobs: int, command: Sequence[str] | None = None) -> None:
        self.jobs = max(1, jobs)
        self.command = worker_command() if command is None else list(command)
        self.workers: list[_Worker] = []
        with contextlib.suppress(OSError):  # measure() retries, and reports the failure
            while len(self.workers) < self.jobs:
                self.workers.append(_Worker(self.command))

    def __enter__(self) -> Walkers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def measure(
        self, paths: Sequence[str], *, limit: float, since: float | None = None, batch: int = 128
    ) -> Iterator[RepositoryUsage]:
        """Measure ``paths``, yielding results as they complete (not in the order given).
        A path that takes longer than ``limit`` seconds yields ``timeout``; its worker is
        killed and the paths queued behind it go to a new one.

        Each worker gets up to ``batch`` paths at a time and is topped up when half are
        answered, so it never waits for the parent: one request/reply round trip per
        repository cost more than walking a small repository.
        """
        todo = collections.deque(paths)
        workers = self.workers
        failures = 0
        while todo or any(worker.pending for worker in workers):
            while todo and len(workers) < self.jobs:
                try:
                    workers.append(_Worker(self.command))
                except OSError as error:
                    failures += 1
                    if failures > 3:  # the command itself is broken: fail every path
                        while todo:
                            yield RepositoryUsage(
                                todo.popleft(), "error", problem=f"worker failed: {error}"
                            )
                    break
            for worker in workers:
                if todo and len(worker.pending) <= batch // 2:
                    # Smaller shares near the end: no worker is left with a long queue
                    # while the others idle.
                    size = max(1, min(batch, len(todo) // (2 * len(workers))))
                    share = [todo.popleft() for _ in range(min(size, len(todo)))]
                    # A dead worker's pipe fails here and reads as EOF below, where its
                    # pending paths are requeued.
                    with contextlib.suppress(OSError, EOFError):
                        worker.send(share, since, limit)
            busy = [worker for worker in workers if worker.pending]
            if not busy:
                continue
            wait = max(0.0, min(worker.deadline for worker in busy) - time.monotonic())
            ready, _, _ = select.select([worker.out for worker in busy], [], [], wait)
            now = time.monotonic()
            for worker in busy:
                failed: str | None = None
                if worker.out in ready:
                    try:
                        yield from worker.receive(limit)
                    except (OSError, EOFError, ValueError, TypeError) as error:
                        failed = f"worker failed: {error}"
                if failed is None and worker.pending and now >= worker.deadline:
                    failed = f"no answer within {limit:g}s (hanging filesystem?)"
                    yield RepositoryUsage(worker.pending.popleft(), "timeout", problem=failed)
                    failed = ""
                if failed is not None:
                    worker.kill()
                    workers.remove(worker)
                    if failed and worker.pending:  # it died under the path it was measuring
                        yield RepositoryUsage(worker.pending.popleft(), "error", problem=failed)
                    todo.extendleft(reversed(worker.pending))

    def close(self) -> None:
        """End every worker: idle ones are told (all first, so they exit in parallel),
        busy ones (the caller stopped early) are killed."""
        for worker in self.workers:
            if worker.pending:
                worker.kill()
            else:
                worker.finish()
        for worker in self.workers:
            worker.close()
        self.workers = []


def measure_all(
    paths: Sequence[str],
    *,
    jobs: int,
    limit: float,
    since: float | None = None,
    command: Sequence[str] | None = None,
    batch: int = 128,
) -> Iterator[RepositoryUsage]:
    """:meth:`Walkers.measure` of ``paths`` with a pool of at most ``jobs`` workers."""
    if not paths:
        return
    with Walkers(min(jobs, len(paths)), command) as walkers:
        yield from walkers.measure(paths, limit=limit, since=since, batch=batch)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve(sys.stdin, lambda text: (sys.stdout.write(text), sys.stdout.flush()))
