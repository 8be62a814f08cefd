"""``borghive stats prune`` on a long history: the first prune and a steady-state one.

Seeds a migrated SQLite store with ``--repos`` repositories and one Statistic point per
repository per day for ``--days`` days (as a daily ``stats collect`` leaves them), then
runs ``borghive stats prune --json`` twice as a subprocess: the first thins everything
older than ``--keep-all-days`` to one point per ISO week, the second finds nothing left to
delete but still ranks every old point (what each daily collect pays). Prints wall time,
peak RSS and the counts. No target is set for prune.

    .venv/bin/python -m benchmarks.bench_prune [--repos 10000] [--days 365]
        [--keep-all-days 90]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_stats import seed_records

BORGHIVE = str(Path(sys.executable).parent / "borghive")
PROBE = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); "
    "out = subprocess.run(sys.argv[1:], check=True, capture_output=True, text=True).stdout; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.perf_counter() - t); "
    "print(out)"
)


def seed(config: Path, database: Path, repos: int, days: int) -> int:
    """Users and repositories (bench_stats.seed_records), then ``days`` daily points per
    repository with plain SQLite; the number of points."""
    seed_records(config, [(f"r{i:07d}", "backup") for i in range(repos)])
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    connection = sqlite3.connect(database, isolation_level=None)
    try:
        repo_ids = [row[0] for row in connection.execute("SELECT id FROM repository")]
        connection.execute("BEGIN")
        for day in range(days, 0, -1):
            when = (now - dt.timedelta(days=day, hours=1)).isoformat(" ")
            connection.executemany(
                "INSERT INTO statistic (repository_id, time, bytes_used, file_count)"
                " VALUES (?, ?, ?, 100)",
                [(repo_id, when, 1000 * day) for repo_id in repo_ids],
            )
        connection.execute("COMMIT")
    finally:
        connection.close()
    return repos * days


def prune(config: Path) -> tuple[float, int, dict[str, int]]:
    """(seconds, peak RSS in KiB, the command's JSON) of one ``stats prune``."""
    command = [BORGHIVE, "--config", str(config), "stats", "prune", "--json"]
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *command],
        check=True,
        capture_output=True,
        text=True,
    )
    first, output = done.stdout.split("\n", 1)
    peak, seconds = first.split()
    return float(seconds), int(peak), json.loads(output)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repos", type=int, default=10000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--keep-all-days", type=int, default=90)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="borghive-bench-prune-"))
    try:
        config = scratch / "borghive.toml"
        config.write_text(
            f'[store]\nurl = "sqlite:///{scratch}/borghive.db"\n'
            f'[repos]\nroot = "{scratch}/repos"\n'
            f"[stats]\nkeep_all_days = {args.keep_all_days}\n"
        )
        subprocess.run(
            [BORGHIVE, "--config", str(config), "migrate"], check=True, capture_output=True
        )
        started = time.perf_counter()
        points = seed(config, scratch / "borghive.db", args.repos, args.days)
        size = (scratch / "borghive.db").stat().st_size
        print(
            f"store: {args.repos} repositories x {args.days} daily points = {points} points, "
            f"{size / 1e6:.0f} MB (seeded in {time.perf_counter() - started:.0f}s)"
        )
        for label in ("first prune", "steady-state prune"):
            seconds, peak, result = prune(config)
            print(
                f"{label:20} {seconds:7.2f} s  peak RSS {peak / 1024:6.1f} MB  "
                f"deleted {result['deleted']}, kept {result['kept']} older than "
                f"{result['keep_all_days']} days"
            )
        return 0
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
