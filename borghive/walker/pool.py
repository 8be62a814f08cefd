"""Disk usage of many repositories at once, in killable worker processes.

The walk itself (:func:`~borghive.walker.worker.measure`) runs in worker processes
(``python -m borghive.walker.worker``). Why processes and not a thread pool: a thread
blocked in ``stat``/``open`` on a dead NFS or FUSE mount (or opening a FIFO) cannot be
interrupted or killed, and Python waits for every non-daemon thread at exit, so one
hanging path would hang the run; and walking is CPU-bound Python, which threads would run
one at a time. The parent is a single ``select`` loop over the workers' pipes (no
threads): each worker's oldest unanswered path has a deadline; past it the worker is
killed (SIGKILL), that repository is reported as ``timeout`` and the paths queued behind
it go to a fresh worker. A process stuck in uninterruptible sleep dies when its I/O
returns; the run does not wait for it.
"""

from __future__ import annotations

import collections
import contextlib
import json
import math
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from borghive.walker.worker import RepositoryUsage

__all__ = ["RepositoryUsage", "Walkers", "measure_all", "worker_command"]


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
    return [*prefix, sys.executable, "-m", "borghive.walker.worker"]


class Walkers:
    """A pool of at most ``jobs`` worker processes. They are started at once, so that they
    boot while the caller still reads the store (0: none yet); :meth:`measure` never runs
    more than it has paths, and starts more when some die. Use as a context manager:
    leaving it ends (or kills) every worker."""

    def __init__(self, jobs: int, command: Sequence[str] | None = None) -> None:
        self.jobs = max(0, jobs)
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
        # One worker per path at most: surplus ones started early are told to end.
        self.jobs = min(max(1, self.jobs), len(todo))
        surplus = self.workers[self.jobs :]
        del self.workers[self.jobs :]
        for worker in surplus:  # all told first, so that they exit in parallel
            worker.finish()
        for worker in surplus:
            worker.close()
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
