"""``borghive stats collect`` against ``du``: wall time on a large tree, and memory.

Builds ``--repos`` borg-shaped repositories of ``--files`` files each under a scratch repos
root (README, config, nonce, hints/index/integrity, segments in ``data/N/``), seeds a
SQLite store with one record per repository, then in the same run times, warm cache:

* ``du -s -B1 <root>`` once over the whole tree (the floor: one single-threaded walk);
* ``du -s -B1 <repository>`` once per repository (what a shell loop would do);
* ``borghive stats collect --json`` as a subprocess (walk, store, prune, print), the same
  number of times as the single du, interleaved with it; medians are compared.

Targets: collect at least 5x faster than per-repository du, and within 1.5x of a single du.
Memory: peak RSS of a walker worker measuring one repository of ``--files`` files and one of
``--big-files`` files (flat: only hard-linked inodes are remembered), and the collect
process's peak RSS at a quarter of the repositories and at all of them.

    .venv/bin/python -m benchmarks.bench_stats [--repos 10000] [--files 100]
        [--big-files 200000] [--rounds 3] [--keep]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
BORGHIVE = str(VENV_BIN / "borghive")
CONFIG_TEXT = (
    "[repository]\nversion = 1\nsegments_per_dir = 1000\nmax_segment_size = 524288000\n"
    "append_only = 0\nstorage_quota = 0\nadditional_free_space = 0\nid = {id}\n"
    "key = hqlhbGdvcml0aG2mc2hhMjU2pGRhdGHaAZ4\n"
)
TOP_LEVEL = 7  # README config nonce hints.N index.N integrity.N + data/ (a directory)


def build_repository(path: Path, files: int, serial: int) -> None:
    """A borg-shaped repository with ``files`` files in all (segments fill the rest)."""
    (path / "data" / "0").mkdir(parents=True)
    payload = os.urandom(64)
    for name, text in (
        ("README", b"This is a Borg Backup repository.\n"),
        ("config", CONFIG_TEXT.format(id=f"{serial:064x}").encode()),
        ("nonce", b"0000000000000000"),
        (f"hints.{files}", payload),
        (f"index.{files}", payload * 4),
        (f"integrity.{files}", payload),
    ):
        (path / name).write_bytes(text)
    segments = max(1, files - (TOP_LEVEL - 1))
    for number in range(segments):
        directory = path / "data" / str(number // 1000)
        if number % 1000 == 0 and number:
            directory.mkdir()
        (directory / str(number)).write_bytes(payload * (1 + number % 8))


def build_tree(root: Path, repos: int, files: int) -> list[tuple[str, str]]:
    """(repository user, name) of every repository built under ``root``."""
    made = []
    for index in range(repos):
        user, name = f"r{index:07d}", "backup"
        build_repository(root / user / name, files, index)
        made.append((user, name))
    return made


def seed_records(config: Path, made: list[tuple[str, str]]) -> None:
    """One owner per 10 repositories and a record per (repository user, name), named
    ``NAMEindex``, in the migrated store of ``config`` (bulk inserts through the models,
    so that every column gets its default)."""
    from borghive.config_load import load_config
    from borghive.store import open_store, write_transaction
    from borghive.store.models import Repository, User

    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with open_store(load_config(config).store), write_transaction():
        owners = (len(made) + 9) // 10
        User.insert_many(
            [{"name": f"user{i:05d}", "created": now} for i in range(owners)]
        ).execute()
        ids = [user.id for user in User.select(User.id).order_by(User.id)]
        rows = [
            {
                "owner": ids[index // 10],
                "name": f"{name}{index}",
                "repo_user": user,
                "uid_number": 200000 + index,
                "host": "backup.example.org",
                "mode": "borg",
                "created": now,
            }
            for index, (user, name) in enumerate(made)
        ]
        for start in range(0, len(rows), 500):
            Repository.insert_many(rows[start : start + 500]).execute()


def seed_store(scratch: Path, root: Path, made: list[tuple[str, str]]) -> Path:
    """A migrated SQLite store with one user per 10 repositories; returns the config."""
    config = scratch / "borghive.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{scratch}/borghive.db"\n[repos]\nroot = "{root}"\n'
        'host = "backup.example.org"\n'
    )
    subprocess.run([BORGHIVE, "--config", str(config), "migrate"], check=True, capture_output=True)
    seed_records(config, made)
    # The records are named ``backupN`` but the directories ``backup``: rename to match.
    for index, (user, name) in enumerate(made):
        (root / user / name).rename(root / user / f"{name}{index}")
    return config


def _runs(values: list[float]) -> str:
    return "/".join(f"{value:.2f}" for value in values)


def timed(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return time.perf_counter() - started, done.stdout


def child_peak_rss_kib(command: list[str]) -> tuple[int, float]:
    """Peak RSS (KiB) of the largest process ``command`` and its children start (started
    from a small probe process, whose own RSS ru_maxrss would otherwise report)."""
    probe = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.perf_counter() - t)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *command], check=True, capture_output=True, text=True
    )
    peak, seconds = done.stdout.split()
    return int(peak), float(seconds)


def walker_peak(path: Path) -> tuple[int, float]:
    """Peak RSS (VmHWM, KiB) of one walker process measuring ``path``. Not ru_maxrss: Linux
    carries that over from the forking parent across exec."""
    code = (
        "import sys; from borghive.walker.worker import measure; "
        "u = measure(sys.argv[1]); "
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]; "
        "print(hwm.split()[1], u.duration)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)], check=True, capture_output=True, text=True
    )
    peak, seconds = done.stdout.split()
    return int(peak), float(seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repos", type=int, default=10000)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--big-files", type=int, default=200000)
    parser.add_argument("--rounds", type=int, default=3, help="Timed runs of each; medians.")
    parser.add_argument("--keep", action="store_true", help="Keep the scratch directory.")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="borghive-bench-stats-"))
    root = scratch / "repos"
    try:
        started = time.perf_counter()
        made = build_tree(root, args.repos, args.files)
        config = seed_store(scratch, root, made)
        print(
            f"tree: {args.repos} repositories x {args.files} files in {root} "
            f"(built and seeded in {time.perf_counter() - started:.0f}s); "
            f"{os.cpu_count()} CPUs"
        )
        repositories = sorted(p for p in root.glob("*/*"))
        timed(["du", "-s", "-B1", str(root)])  # warm the cache once for everybody

        collect_command = [BORGHIVE, "--config", str(config), "stats", "collect", "--json"]
        singles: list[float] = []
        collects: list[float] = []
        for _ in range(args.rounds):  # interleaved, so that both see the same machine
            single, single_out = timed(["du", "-s", "-B1", str(root)])
            singles.append(single)
            collect_seconds, collect_out = timed(collect_command)
            collects.append(collect_seconds)
        started = time.perf_counter()
        total = 0
        for path in repositories:
            out = subprocess.run(
                ["du", "-s", "-B1", str(path)], capture_output=True, text=True, check=True
            ).stdout
            total += int(out.split()[0])
        per_repo = time.perf_counter() - started
        result = json.loads(collect_out)
        collected = result["bytes_used"]
        single, collect_seconds = statistics.median(singles), statistics.median(collects)
        print(
            f"single du over the root      {single:8.2f} s  median of {_runs(singles)} "
            f"({int(single_out.split()[0])} B)"
        )
        print(f"du once per repository       {per_repo:8.2f} s  ({total} B)")
        print(
            f"borghive stats collect       {collect_seconds:8.2f} s  median of "
            f"{_runs(collects)} ({collected} B, {result['measured']} measured, "
            f"{result['failed']} failed)"
        )
        faster = per_repo / collect_seconds
        versus_single = collect_seconds / single
        print(f"collect vs per-repo du: {faster:.1f}x faster (target >= 5x)")
        print(f"collect vs single du:   {versus_single:.2f}x the time (target <= 1.5x)")
        same = collected == total
        print(f"totals agree with per-repository du: {same}")

        small_peak, _ = walker_peak(repositories[0])
        big = scratch / "big" / "repo"
        build_repository(big, args.big_files, 0)
        big_peak, big_seconds = walker_peak(big)
        print(
            f"walker peak RSS: {small_peak} KiB for {args.files} files, {big_peak} KiB for "
            f"{args.big_files} files ({big_seconds:.2f}s)"
        )
        full_peak, _ = child_peak_rss_kib([*collect_command[:-1], "--quiet"])
        print(f"collect process peak RSS at {args.repos} repositories: {full_peak} KiB")
        flat = big_peak <= small_peak * 1.2
        ok = faster >= 5 and versus_single <= 1.5 and same and flat
        print(
            f"memory flat as the tree grows: {flat}\n"
            + ("PASS" if ok else "FAIL")
            + f" (>=5x per-repo du: {faster >= 5}, <=1.5x single du: {versus_single <= 1.5})"
        )
        return 0 if ok else 1
    finally:
        if args.keep:
            print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
