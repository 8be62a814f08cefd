"""Benchmark of ``borghive watch``: start-up time and memory with many repositories, the
CPU it spends during a 2 GB backup compared with borg's and with a naive recursive watcher,
and the event-to-store latency with 200 repositories active at once.

    .venv/bin/python -m benchmarks.bench_watch          # 10,000 repositories, 2 GB, 200 active
    .venv/bin/python -m benchmarks.bench_watch --repos 1000 --backup-mb 256   # quicker

1. A scratch directory with a SQLite store (``borghive migrate``), ``--repos`` repository
   rows inserted in bulk, and for each a skeleton on disk made with plain syscalls:
   ``<root>/rNNNNNNN/repo/{README,config,data/0/,index.N,hints.N,integrity.N}``.
2. Start-up: the installed ``borghive watch`` in a subprocess, timed from spawn until it
   logs ``ready`` (all watches installed, the first rescan done and its times written to
   the store); then its RSS (VmRSS and the peak VmHWM from /proc).
3. Backup (``--backup-mb``, default 2048): random (incompressible) data written to files
   in the scratch directory, then a real ``borg create --compression none`` into a new
   ``-e none`` repository under the same root, with ``borghive watch`` and a naive watcher
   (pyinotify, ALL_EVENTS, recursive with auto_add, so it also watches ``data/``; the
   original Borg Hive's approach) side by side. The naive watcher's inotify instance gets
   a kernel queue of ``--naive-queue`` events (root only: max_queued_events is raised while
   it starts and restored at once), so that its own start-up walk of the tree (about 12
   events per repository) does not overflow it; the events of that walk are not counted.
   CPU (user+sys) of borg from getrusage of the reaped child, of the watchers from
   /proc/PID/task/*/schedstat, from just before borg starts until both watchers are idle
   again. Target: borghive watch under 1 % of borg's CPU.
4. Latency (``--latency-repos``, default 200, taken from the skeleton tree): worker
   processes play borg 1.2's file operations of ``borg create`` in every repository at
   once (as borg 1.2 does: ``lock.exclusive.XXXX.tmp`` made and renamed into
   place, ``lock.roster`` written, per commit a segment in ``data/`` and
   ``integrity/hints/index.N.tmp`` written and renamed in that order with the previous
   ones unlinked, roster deleted, the lock's file unlinked and its directory removed),
   ``--latency-sessions`` runs of ``--latency-commits`` commits each, a random pause of
   ``--latency-gap-ms`` on average between one repository's operations (all repositories
   hold their lock at the same time). Every ``opened`` is timed from the rename of the
   lock, every ``updated``/``closed`` from the removal of the lock directory (wall clock
   just before the syscall), to the moment the benchmark sees the row in the store (it
   polls every 5 ms), and to the row's Event.time (set when the daemon handled the event).
   Target: p99 of operation-to-visible-row under 200 ms. The defaults (16 runs, 100 ms)
   last about 70 s: pyinotify keeps every rename of the last minute and walks that record
   on each turn of the daemon's loop, so a run shorter than a minute flatters the daemon.
   They make every repository commit about once a second, far above real borg (a commit
   per checkpoint, every 30 minutes by default); ``--latency-gap-ms 50 --latency-sessions
   30`` is a harder stress test.

5. ``--compare-sessions``: only the latency storm, ``--compare-rounds`` times with a
   daemon that records sessions (``[watch] sessions = true``) and with one that does not,
   alternating which goes first; the lock holders carry borg's host id, so the daemon looks
   each one up (none is a marked process: the costly case), and the repository directories
   are owned by their uid, so its /proc sweep has users to look for. Target: the median p99
   with sessions at most 10 % above the median without.

Targets: start-up < 5 s, RSS < 150 MB, CPU < 1 % of borg's, latency p99 <
200 ms. Prints PASS/FAIL for each; exit status 1 when one fails.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import heapq
import math
import multiprocessing
import os
import queue
import random
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from borghive.sessions.locks import this_host_id
from tests.harness.borg import BORG

START_UP_TARGET = 5.0
RSS_TARGET_MB = 150.0
UID_BASE = 200_000


def borghive() -> str:
    found = shutil.which("borghive", path=str(Path(sys.executable).parent))
    if not found:
        raise SystemExit(f"borghive is not installed in {Path(sys.executable).parent}")
    return found


def environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("BORGHIVE_", "BORG_"))}


def config_file(scratch: Path, root: Path, database: Path, *, sessions: bool) -> Path:
    """A configuration of the scratch store, with session recording on or off."""
    config = scratch / f"borghive-sessions-{'on' if sessions else 'off'}.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{database}"\n[repos]\nroot = "{root}"\n'
        f'[watch]\nspool = "{scratch}/watch.spool"\nsessions = {str(sessions).lower()}\n'
    )
    return config


def prepare(scratch: Path, repositories: int) -> tuple[Path, Path, Path]:
    """Config, store and skeleton tree; returns (config file, root, database)."""
    root = scratch / "repos"
    root.mkdir()
    database = scratch / "borghive.db"
    config = config_file(scratch, root, database, sessions=True)
    subprocess.run(
        [borghive(), "--config", str(config), "migrate"],
        check=True,
        capture_output=True,
        env=environment(),
    )
    started = time.perf_counter()
    users = repositories  # (owner, name) is unique and every repository is named "repo"
    connection = sqlite3.connect(database)
    with connection:
        connection.executemany(
            "INSERT INTO person (id, name, email, realert_interval, alert_expiration, created)"
            " VALUES (?, ?, NULL, 43200, 432000, '2025-06-01 12:00:00')",
            [(u + 1, f"user{u:05d}") for u in range(users)],
        )
        connection.executemany(
            "INSERT INTO repository (id, owner_id, name, repo_user, uid_number, mode, quota,"
            " alert_after, last_access, last_update, created, host)"
            " VALUES (?, ?, 'repo', ?, ?, 'borg', NULL, NULL, NULL, NULL,"
            " '2025-06-01 12:00:00', ?)",
            [  # the configuration names no repos.host: this machine's name is the host's
                (r + 1, r % users + 1, f"r{r + 1:07d}", UID_BASE + r, socket.gethostname())
                for r in range(repositories)
            ],
        )
    connection.close()
    seeded = time.perf_counter() - started
    started = time.perf_counter()
    for r in range(repositories):
        repository = root / f"r{r + 1:07d}" / "repo"
        os.makedirs(repository / "data" / "0")
        number = 1 + r % 97
        for name in ("README", "config", f"index.{number}", f"hints.{number}"):
            with open(repository / name, "wb") as handle:
                handle.write(b"x")
        with open(repository / f"integrity.{number}", "wb") as handle:
            handle.write(b"x")
        if os.geteuid() == 0:
            # As on a storage host: the session sweep finds a repository's user by it.
            os.chown(repository, UID_BASE + r, UID_BASE + r)
    print(
        f"prepared {repositories} repositories: store rows {seeded:.2f} s, "
        f"skeletons {time.perf_counter() - started:.2f} s"
    )
    return config, root, database


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def cpu_seconds(pid: int) -> float:
    """CPU time of a process so far, all threads, in nanosecond resolution (schedstat)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def wait_for_line(log: Path, text: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        if process.poll() is not None:
            raise SystemExit(f"the process exited early:\n{log.read_text(errors='replace')}")
        time.sleep(0.01)
    raise SystemExit(f"no {text!r} within {timeout} s:\n{log.read_text(errors='replace')}")


def stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


QUEUE_LIMIT = Path("/proc/sys/fs/inotify/max_queued_events")

NAIVE_WATCHER = textwrap.dedent(
    """
    import signal, sys, pyinotify
    manager = pyinotify.WatchManager()
    class Count(pyinotify.ProcessEvent):
        events = 0
        overflows = 0
        def process_IN_Q_OVERFLOW(self, event):
            Count.overflows += 1
        def process_default(self, event):
            Count.events += 1
    manager.add_watch(sys.argv[1], pyinotify.ALL_EVENTS, rec=True, auto_add=True, quiet=True)
    notifier = pyinotify.Notifier(manager, Count(), timeout=200)
    running = True
    def halt(*_):
        global running
        running = False
    signal.signal(signal.SIGTERM, halt)
    def mark(*_):
        print("mark", Count.events, Count.overflows, flush=True)
    signal.signal(signal.SIGUSR1, mark)
    print("ready", flush=True)
    while running:
        if notifier.check_events():
            notifier.read_events()
        notifier.process_events()
    print("overflows", Count.overflows, flush=True)
    print("events", Count.events, flush=True)
    """
)


@contextlib.contextmanager
def inotify_queue_limit(size: int) -> Iterator[int]:
    """Raise the kernel's inotify queue limit while a watcher makes its inotify instance
    (the limit is taken then, per instance), and restore it afterwards; yields the limit in
    force. The queue cannot be enlarged from user space otherwise: pyinotify already reads
    everything queued (FIONREAD) at each turn. Needs root; without it the limit stays."""
    try:
        original = int(QUEUE_LIMIT.read_text())
    except OSError:
        yield 0
        return
    raised = False
    if size > original:
        try:
            QUEUE_LIMIT.write_text(f"{size}\n")
            raised = True
        except OSError:
            pass
    try:
        yield size if raised else original
    finally:
        if raised:
            QUEUE_LIMIT.write_text(f"{original}\n")


def wait_until_idle(pids: list[int], timeout: float = 120.0) -> None:
    """Until none of ``pids`` uses more than 20 ms of CPU in half a second (queues drained)."""
    deadline = time.monotonic() + timeout
    previous = [cpu_seconds(pid) for pid in pids]
    while time.monotonic() < deadline:
        time.sleep(0.5)
        current = [cpu_seconds(pid) for pid in pids]
        if all(now - before < 0.02 for now, before in zip(current, previous, strict=True)):
            return
        previous = current


def children_cpu() -> float:
    """User + system CPU of the reaped child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def make_source(source: Path, megabytes: int) -> float:
    """``megabytes`` of random (incompressible) data in files of 64 MB; returns seconds."""
    started = time.perf_counter()
    source.mkdir()
    remaining = megabytes * 1024 * 1024
    number = 0
    while remaining > 0:
        size = min(64 * 1024 * 1024, remaining)
        (source / f"blob{number:04d}").write_bytes(os.urandom(size))
        remaining -= size
        number += 1
    return time.perf_counter() - started


def backup(
    scratch: Path, root: Path, database: Path, watch_pid: int, megabytes: int, queue: int
) -> bool:
    """A borg create of ``megabytes`` while both watchers run; True when borghive watch used
    less than 1 % of borg's CPU."""
    repo_user = "rbackup1"
    connection = sqlite3.connect(database)
    with connection:
        connection.execute(
            "INSERT INTO repository (owner_id, name, repo_user, uid_number, mode, created)"
            " VALUES (1, 'backup', ?, ?, 'borg', '2025-06-01 12:00:00')",
            (repo_user, UID_BASE - 1),
        )
    connection.close()
    source = scratch / "source"
    generated = make_source(source, megabytes)
    print(f"generated {megabytes} MB of random data in {generated:.1f} s")
    env = {**environment(), "BORG_BASE_DIR": str(scratch / "borg-base")}
    repository = root / repo_user / "backup"
    repository.parent.mkdir()
    subprocess.run(
        [BORG, "init", "-e", "none", str(repository)], check=True, env=env, capture_output=True
    )
    wait_until_idle([watch_pid])  # the new repository's "created" is written

    naive_log = scratch / "naive.log"
    with inotify_queue_limit(queue) as queue_size, open(naive_log, "wb") as output:
        naive = subprocess.Popen(
            [sys.executable, "-c", NAIVE_WATCHER, str(root)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=environment(),
        )
        wait_for_line(naive_log, "ready", naive, 600)
    try:
        wait_until_idle([watch_pid, naive.pid])
        idle_before, idle_started = cpu_seconds(watch_pid), time.perf_counter()
        time.sleep(3.0)
        idle_rate = (cpu_seconds(watch_pid) - idle_before) / (time.perf_counter() - idle_started)
        naive.send_signal(signal.SIGUSR1)  # its counts so far (its own walk of the tree)
        wait_for_line(naive_log, "mark", naive, 60)
        watch_before, naive_before = cpu_seconds(watch_pid), cpu_seconds(naive.pid)
        borg_before = children_cpu()
        started = time.perf_counter()
        subprocess.run(
            [
                BORG,
                "create",
                "--compression",
                "none",
                "--checkpoint-interval",
                "2",
                f"{repository}::bench",
                str(source),
            ],
            check=True,
            env=env,
        )
        elapsed = time.perf_counter() - started
        borg_cpu = children_cpu() - borg_before
        wait_until_idle([watch_pid, naive.pid])  # both have handled every event
        drained = time.perf_counter() - started - elapsed
        watch_cpu = cpu_seconds(watch_pid) - watch_before
        naive_cpu = cpu_seconds(naive.pid) - naive_before
    finally:
        stop(naive)
        shutil.rmtree(source, ignore_errors=True)
    naive_output = {
        line.split()[0]: [int(word) for word in line.split()[1:]]
        for line in naive_log.read_text().splitlines()
        if line.split()[0] in ("mark", "events", "overflows")
    }
    setup_events, setup_overflows = naive_output["mark"]
    naive_events = naive_output["events"][0] - setup_events
    naive_overflows = naive_output["overflows"][0] - setup_overflows
    kinds = sqlite3.connect(database).execute(
        "SELECT e.kind, e.detail FROM event e JOIN repository r ON e.repository_id = r.id"
        " WHERE r.repo_user = ? ORDER BY e.id",
        (repo_user,),
    )
    recorded = ", ".join(f"{kind}({detail})" if detail else kind for kind, detail in kinds)
    share = 100 * watch_cpu / borg_cpu
    ok = share < 1.0
    ratio = naive_cpu / watch_cpu if watch_cpu > 0 else float("inf")
    print(
        f"borg create of {megabytes} MB (random data, --compression none, -e none, "
        f"checkpoint every 2 s): {elapsed:.1f} s wall, both watchers idle {drained:.1f} s later"
    )
    print(f"  borg CPU (user+sys): {borg_cpu:.2f} s")
    print(
        f"  borghive watch CPU: {watch_cpu * 1000:.0f} ms = {share:.3f} % of borg's "
        f"(target < 1 %) {'PASS' if ok else 'FAIL'}"
    )
    print(
        f"  (of which idle polling, {idle_rate * 1000:.1f} ms per second when no event "
        f"arrives: about {idle_rate * (elapsed + drained) * 1000:.0f} ms)"
    )
    print(f"  borghive watch events recorded: {recorded}")
    print(
        f"  naive recursive watcher CPU: {naive_cpu * 1000:.0f} ms = "
        f"{100 * naive_cpu / borg_cpu:.2f} % of borg's; "
        f"{naive_events} events, {naive_overflows} queue overflows "
        f"(kernel queue {queue_size}; not counted: {setup_events} events of its own "
        f"walk of the tree at start)"
    )
    if naive_overflows:
        print("  (the naive watcher lost events to overflows: its CPU is understated)")
    print(f"  ratio naive/borghive CPU: {ratio:.1f}x")
    return ok


# --- event-to-store latency with many repositories active at once --------------------


def borg_sessions(
    path: Path, index: int, sessions: int, commits: int, gap: float, rng: random.Random
) -> Iterator[tuple[float, tuple[tuple[str, float], ...]]]:
    """The file operations borg 1.2 makes in a repository directory during ``sessions``
    ``borg create`` runs of ``commits`` commits each (the file operations borg 1.2 makes),
    one per step. Each step yields the pause before the next one and the Event rows the
    operation should end in, as (kind, wall time just before the syscall)."""
    owner = f"{this_host_id()}.{os.getpid()}-{threading.get_ident()}"
    lock = path / "lock.exclusive"
    for session in range(sessions):
        temporary = path / f"lock.exclusive.{rng.getrandbits(32):08x}.tmp"
        os.mkdir(temporary)
        yield rng.uniform(0, 2 * gap), ()
        (temporary / owner).touch()
        yield rng.uniform(0, 2 * gap), ()
        moment = time.time()
        os.rename(temporary, lock)
        yield rng.uniform(0, 2 * gap), (("opened", moment),)
        (path / "lock.roster").write_text(f'{{"exclusive": [["{owner}"]]}}')
        yield rng.uniform(0, 2 * gap), ()
        for _ in range(commits):
            new = index + 1
            segment = path / "data" / str(new // 1000) / str(new)
            segment.parent.mkdir(exist_ok=True)
            segment.write_bytes(b"\0" * 4096)  # not watched by borghive; the naive way would
            yield rng.uniform(0, 2 * gap), ()
            for kind in ("integrity", "hints", "index"):
                (path / f"{kind}.{new}.tmp").write_bytes(b"\0" * 256)
                yield rng.uniform(0, 2 * gap), ()
                os.rename(path / f"{kind}.{new}.tmp", path / f"{kind}.{new}")
                yield rng.uniform(0, 2 * gap), ()
            for kind in ("integrity", "hints", "index"):
                os.unlink(path / f"{kind}.{index}")
                yield rng.uniform(0, 2 * gap), ()
            index = new
        os.unlink(path / "lock.roster")
        yield rng.uniform(0, 2 * gap), ()
        os.unlink(lock / owner)
        yield rng.uniform(0, 2 * gap), ()
        moment = time.time()
        os.rmdir(lock)
        between = rng.uniform(0, 10 * gap) if session + 1 < sessions else 0.0
        yield between, (("updated", moment), ("closed", moment))


def simulate(
    jobs: list[tuple[str, Path, int]],
    sessions: int,
    commits: int,
    gap: float,
    seed: int,
    barrier: Any,
    results: Any,
) -> None:
    """A worker process: runs borg_sessions for each of its repositories, interleaved on
    one schedule; puts ({repo_user: [(kind, time), ...]}, operations, seconds) on
    ``results``."""
    rng = random.Random(seed)  # noqa: S311 - timing jitter, not secrets
    marks: dict[str, list[tuple[str, float]]] = {user: [] for user, _, _ in jobs}
    barrier.wait()
    started = time.monotonic()
    schedule = [
        (
            started + rng.uniform(0, gap),
            number,
            user,
            borg_sessions(path, index, sessions, commits, gap, rng),
        )
        for number, (user, path, index) in enumerate(jobs)
    ]
    heapq.heapify(schedule)
    operations = 0
    while schedule:
        due, number, user, steps = heapq.heappop(schedule)
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        try:
            pause, made = next(steps)
        except StopIteration:
            continue
        operations += 1
        marks[user].extend(made)
        heapq.heappush(schedule, (max(due, time.monotonic()) + pause, number, user, steps))
    results.put((marks, operations, time.monotonic() - started))


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def stored_seconds(text: str) -> float:
    """Epoch seconds of a stored Event.time (naive UTC, as peewee writes it to SQLite)."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


def latency(
    root: Path,
    database: Path,
    watch_pid: int,
    repositories: int,
    sessions: int,
    commits: int,
    gap: float,
    workers: int,
) -> tuple[bool, float]:
    """``repositories`` repositories of the skeleton tree run borg sessions at once while
    the store is polled; returns (whether the p99 of operation-to-visible-row is under
    200 ms, that p99 in seconds)."""
    wait_until_idle([watch_pid])
    jobs = []
    for number in range(repositories):
        user = f"r{number + 1:07d}"
        path = root / user / "repo"
        index = max(
            int(name.split(".")[1]) for name in os.listdir(path) if name.startswith("index.")
        )
        jobs.append((user, path, index))
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
    query = (
        "SELECT e.id, r.repo_user, e.kind, e.detail, e.time FROM event e"
        " JOIN repository r ON e.repository_id = r.id WHERE e.id > ? ORDER BY e.id"
    )
    last = connection.execute("SELECT coalesce(max(id), 0) FROM event").fetchone()[0]
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(workers + 1)
    results = context.Queue()
    processes = [
        context.Process(
            target=simulate,
            args=(jobs[start::workers], sessions, commits, gap, start, barrier, results),
        )
        for start in range(workers)
    ]
    for process in processes:
        process.start()
    expected = repositories * sessions * 3
    seen: dict[str, list[tuple[str, str, str, float]]] = {}
    count = 0
    outcomes = []
    cpu_before, workers_before = cpu_seconds(watch_pid), children_cpu()
    load = os.getloadavg()[0]
    barrier.wait()
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        rows = connection.execute(query, (last,)).fetchall()
        visible = time.time()
        for event_id, user, kind, detail, moment in rows:
            last = event_id
            seen.setdefault(user, []).append((kind, detail, moment, visible))
            count += 1
        while True:
            try:
                outcomes.append(results.get_nowait())
            except queue.Empty:
                break
        if len(outcomes) == workers and count >= expected:
            break
        time.sleep(0.005)
    watch_cpu = cpu_seconds(watch_pid) - cpu_before
    for process in processes:
        process.join(timeout=60)
    workers_cpu = children_cpu() - workers_before
    connection.close()

    marks: dict[str, list[tuple[str, float]]] = {}
    operations = 0
    active = 0.0
    for worker_marks, worker_operations, seconds in outcomes:
        marks.update(worker_marks)
        operations += worker_operations
        active = max(active, seconds)
    to_store: list[float] = []
    by_kind: dict[str, list[float]] = {}
    to_event_time: list[float] = []
    mismatched = 0
    wanted_detail = {"updated": f"{commits} commit" + ("s" if commits != 1 else "")}
    for user, expected_marks in marks.items():
        rows_seen = seen.get(user, [])
        if len(rows_seen) != len(expected_marks):
            mismatched += abs(len(rows_seen) - len(expected_marks))
        for (kind, moment), (stored_kind, detail, stored, visible) in zip(
            expected_marks, rows_seen, strict=False
        ):
            if kind != stored_kind or detail != wanted_detail.get(kind, ""):
                mismatched += 1
                continue
            to_store.append(visible - moment)
            by_kind.setdefault(kind, []).append(visible - moment)
            to_event_time.append(stored_seconds(stored) - moment)
    print(
        f"{repositories} repositories active at once ({workers} worker processes, "
        f"{sessions} borg create sessions each of {commits} commits, ~{gap * 1000:.0f} ms "
        f"between one repository's file operations): {operations} file operations in "
        f"{active:.1f} s ({operations / active:.0f}/s), {count} events recorded "
        f"(expected {expected}, {mismatched} missing or not as expected)"
    )
    print(
        f"  borghive watch CPU meanwhile: {watch_cpu:.2f} s "
        f"({100 * watch_cpu / active:.0f} % of one core); the {workers} workers' CPU: "
        f"{workers_cpu:.2f} s; {os.cpu_count()} CPUs, load average before {load:.2f}"
    )
    if not to_store:
        print("  no event matched: FAIL")
        return False, math.inf

    def summary(values: list[float]) -> str:
        return ", ".join(
            f"{label} {1000 * percentile(values, fraction):.1f} ms"
            for label, fraction in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))
        )

    ok = percentile(to_store, 0.99) < 0.2 and mismatched == 0
    print(f"  operation -> Event.time (daemon read it): {summary(to_event_time)}")
    print(
        f"  operation -> row visible in the store (polled every 5 ms): {summary(to_store)} "
        f"(target p99 < 200 ms) {'PASS' if ok else 'FAIL'}"
    )
    for kind, values in sorted(by_kind.items()):
        print(f"    {kind} ({len(values)}): {summary(values)}")
    return ok, percentile(to_store, 0.99)


def compare_sessions(
    scratch: Path, root: Path, database: Path, arguments: argparse.Namespace
) -> bool:
    """The latency storm twice in one run, with a daemon that records sessions and with
    one that does not (watch.sessions), alternating ``--compare-rounds`` times; True when
    the median p99 with sessions is at most 10 % above the median without."""
    figures: dict[bool, list[float]] = {False: [], True: []}
    for round_number in range(arguments.compare_rounds):
        for sessions in (False, True) if round_number % 2 == 0 else (True, False):
            log = scratch / f"watch-compare-{round_number}-{sessions}.log"
            config = config_file(scratch, root, database, sessions=sessions)
            with open(log, "wb") as stderr:
                process = subprocess.Popen(
                    [borghive(), "--config", str(config), "watch"],
                    stderr=stderr, stdout=subprocess.DEVNULL, env=environment(),
                )  # fmt: skip
            try:
                wait_for_line(log, "ready", process, 120)
                print(f"round {round_number + 1}, sessions {'on' if sessions else 'off'}:")
                _, p99 = latency(
                    root, database, process.pid, arguments.latency_repos,
                    arguments.latency_sessions, arguments.latency_commits,
                    arguments.latency_gap_ms / 1000, arguments.latency_workers,
                )  # fmt: skip
                figures[sessions].append(p99)
            finally:
                stop(process)
    off = sorted(figures[False])[len(figures[False]) // 2]
    on = sorted(figures[True])[len(figures[True]) // 2]
    ratio = on / off
    ok = ratio <= 1.10
    print(
        "p99 event -> store, median of rounds: sessions off "
        f"{1000 * off:.1f} ms ({', '.join(f'{1000 * v:.1f}' for v in figures[False])}), "
        f"on {1000 * on:.1f} ms ({', '.join(f'{1000 * v:.1f}' for v in figures[True])}): "
        f"x{ratio:.2f} (target <= x1.10) {'PASS' if ok else 'FAIL'}"
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=10_000, help="repositories on disk")
    parser.add_argument(
        "--backup-mb", type=int, default=2048, help="size of the borg create (0: skip it)"
    )
    parser.add_argument(
        "--naive-queue",
        type=int,
        default=1 << 20,
        help="kernel inotify queue limit for the naive watcher (root only; 0: the system's)",
    )
    parser.add_argument(
        "--latency-repos",
        type=int,
        default=200,
        help="repositories active at once in the latency test (0: skip it)",
    )
    parser.add_argument("--latency-sessions", type=int, default=16, help="borg runs each")
    parser.add_argument("--latency-commits", type=int, default=3, help="commits per run")
    parser.add_argument(
        "--latency-gap-ms",
        type=float,
        default=100.0,
        help="mean pause between two file operations in one repository",
    )
    parser.add_argument("--latency-workers", type=int, default=4, help="worker processes")
    parser.add_argument(
        "--compare-sessions",
        action="store_true",
        help="only the latency storm, with and without session recording, side by side",
    )
    parser.add_argument(
        "--compare-rounds", type=int, default=2, help="storms of each kind with --compare-sessions"
    )
    arguments = parser.parse_args()
    if arguments.latency_repos > arguments.repos:
        parser.error("--latency-repos cannot exceed --repos")
    scratch = Path(tempfile.mkdtemp(prefix="borghive-bench-watch-"))
    process: subprocess.Popen[bytes] | None = None
    try:
        config, root, database = prepare(scratch, arguments.repos)
        if arguments.compare_sessions:
            return 0 if compare_sessions(scratch, root, database, arguments) else 1
        log = scratch / "watch.log"
        with open(log, "wb") as stderr:
            started = time.perf_counter()
            process = subprocess.Popen(
                [borghive(), "--config", str(config), "watch"],
                stderr=stderr,
                stdout=subprocess.DEVNULL,
                env=environment(),
            )
        wait_for_line(log, "ready", process, 120)
        start_up = time.perf_counter() - started
        rss, peak = memory_mb(process.pid)
        for line in log.read_text().splitlines():
            print(f"  daemon: {line}")
        updated = sqlite3.connect(database).execute(
            "SELECT count(*) FROM repository WHERE last_update IS NOT NULL"
        )
        print(f"repositories with last_update after start-up: {updated.fetchone()[0]}")
        ok_start = start_up < START_UP_TARGET
        ok_rss = peak < RSS_TARGET_MB
        print(
            f"start-up (spawn to ready, {arguments.repos} repositories): {start_up:.2f} s "
            f"(target < {START_UP_TARGET:.0f} s) {'PASS' if ok_start else 'FAIL'}"
        )
        print(
            f"RSS after start-up: {rss:.1f} MB, peak {peak:.1f} MB "
            f"(target < {RSS_TARGET_MB:.0f} MB) {'PASS' if ok_rss else 'FAIL'}"
        )
        ok_cpu = ok_latency = True
        if arguments.backup_mb > 0:
            ok_cpu = backup(
                scratch, root, database, process.pid, arguments.backup_mb, arguments.naive_queue
            )
        if arguments.latency_repos > 0:
            ok_latency, _ = latency(
                root,
                database,
                process.pid,
                arguments.latency_repos,
                arguments.latency_sessions,
                arguments.latency_commits,
                arguments.latency_gap_ms / 1000,
                arguments.latency_workers,
            )
        code = stop(process)
        print(f"borghive watch stopped by SIGTERM: exit {code}")
        for line in log.read_text().splitlines():
            if ": WARNING: " in line or ": ERROR: " in line:
                print(f"  daemon: {line}")
        passed = ok_start and ok_rss and ok_cpu and ok_latency
        return 0 if passed and code == 0 else 1
    finally:
        if process is not None:
            with contextlib.suppress(Exception):
                stop(process)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
