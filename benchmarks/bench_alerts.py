"""Wall time of ``alert check`` over a large store, channel time excluded.

Seeds a scratch store (SQLite, or a throwaway PostgreSQL server with ``--postgres``) with
``--repos`` repositories (default 10,000) of ``--owners`` owners, one e-mail channel each,
an alert period on every repository, three usage points per repository and a quota on
every tenth; ``--firing`` of them (default 500) have had no backup for longer than their
period. Then it runs the service as ``borghive alert check`` does, through:

* a no-op channel (the check's own cost: read, plan, write states and events);
* a real local webhook (``http.server`` on 127.0.0.1) through the real ``Notifier``, with
  the time spent inside the channel measured and subtracted;

and a second run right after each (nothing due: the steady state of a cron job every few
minutes), plus ``--dry-run`` and ``alert list``. Target: under 10 s excluding the channels.
It is a benchmark, not a test: it prints figures and exits 1 when the target fails.

    .venv/bin/python -m benchmarks.bench_alerts [--repos 10000] [--firing 500] [--reports 30]
        [--history 30]
        [--postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from peewee import SqliteDatabase

from benchmarks.bench_foundation import postgres_server
from borghive.config import AlertsConfig, Config, ReposConfig, StoreConfig
from borghive.delivery.notifier import Notifier
from borghive.rules.channels import Message
from borghive.rules.layout import repository_path
from borghive.service.alerts import check as alerts
from borghive.store import open_store, write_transaction
from borghive.store.migrations import apply_migrations
from borghive.store.models import (
    AlertState,
    ClientReport,
    Event,
    NotifyChannel,
    Repository,
    RepoTransaction,
    Statistic,
    User,
)
from tests.harness.net import free_port

TARGET_S = 10.0


def seed_reports(nightly: int, firing: int, now: dt.datetime) -> int:
    """``nightly`` start and success reports per repository, one a night; after them the
    ``firing`` stale repositories' clients report a failure with a 100 kB log. Returns how
    many rows were written."""
    naive = now.replace(tzinfo=None)
    repo_ids = [r.id for r in Repository.select(Repository.id).order_by(Repository.id)]
    stale = {
        r.id
        for r in Repository.select(Repository.id).where(
            Repository.last_update < naive - dt.timedelta(days=2)
        )
    }
    log = "".join(f"file {i:06d} " + "x" * 90 + "\n" for i in range(1000))
    rows: list[dict[str, object]] = []
    for rid in repo_ids:
        for night in range(nightly, 0, -1):
            started = naive - dt.timedelta(days=night, hours=-1)
            rows.append({"repository": rid, "received": started, "kind": "start", "body": ""})
            rows.append(
                {
                    "repository": rid,
                    "received": started + dt.timedelta(minutes=20),
                    "kind": "success",
                    "body": "done",
                }
            )
        if rid in stale:
            rows.append(
                {
                    "repository": rid,
                    "received": naive - dt.timedelta(hours=1),
                    "kind": "fail",
                    "exit_status": 2,
                    "body": log,
                }
            )
    for start in range(0, len(rows), 500):
        ClientReport.insert_many(rows[start : start + 500]).execute()
    return len(rows)


def seed_history(days: int, now: dt.datetime) -> int:
    """``days`` of history per repository: a nightly backup (1,000 objects put) and a small
    prune (5 deleted, never acknowledged, as most prunes are), so every repository has
    unacknowledged deleting transactions that do not alert."""
    naive = now.replace(tzinfo=None)
    repo_ids = [r.id for r in Repository.select(Repository.id)]
    rows: list[dict[str, object]] = []
    written = 0
    for rid in repo_ids:
        for day in range(days):
            when = naive - dt.timedelta(days=days - day)
            for offset, (puts, deletes) in enumerate(((1000, 0), (1, 5))):
                segment = 4 * day + 2 * offset + 1
                rows.append(
                    {
                        "repository": rid,
                        "segment": segment,
                        "commit_offset": 8,
                        "first_segment": segment,
                        "time": when + dt.timedelta(hours=offset),
                        "puts": puts,
                        "deletes": deletes,
                        "bytes_added": 0,
                        "segments_present": "0",
                        "made_by": "client",
                        "recorded": naive,
                    }
                )
        if len(rows) >= 5000:
            for start in range(0, len(rows), 500):
                RepoTransaction.insert_many(rows[start : start + 500]).execute()
            written += len(rows)
            rows = []
    for start in range(0, len(rows), 500):
        RepoTransaction.insert_many(rows[start : start + 500]).execute()
    return written + len(rows)


def seed(
    config: Config,
    repos: int,
    owners: int,
    firing: int,
    now: dt.datetime,
    reports: int = 0,
    history: int = 0,
) -> int:
    naive = now.replace(tzinfo=None)
    with open_store(config.store, check_schema=False, create=True) as db:
        apply_migrations(db)
        with write_transaction():
            User.insert_many(
                [
                    {"name": f"owner{i:05d}", "email": f"owner{i}@example.org", "created": naive}
                    for i in range(owners)
                ]
            ).execute()
            ids = [u.id for u in User.select(User.id).order_by(User.id)]
            NotifyChannel.insert_many(
                [
                    {
                        "owner": ids[i],
                        "kind": "email",
                        "target": f"owner{i}@example.org",
                        "created": naive,
                    }
                    for i in range(owners)
                ]
            ).execute()
            step = max(1, repos // firing)
            rows = []
            for n in range(repos):
                stale = n % step == 0 and n // step < firing
                rows.append(
                    {
                        "owner": ids[n % owners],
                        "name": f"repo{n:05d}",
                        "repo_user": f"r{n:07d}",
                        "uid_number": 200000 + n,
                        "host": "backup.example.org",
                        "mode": "borg",
                        "quota": 10**12 if n % 10 == 0 else None,
                        "alert_after": 86400,
                        "last_update": naive - dt.timedelta(days=3 if stale else 0, hours=2),
                        "created": naive - dt.timedelta(days=60),
                    }
                )
            for start in range(0, len(rows), 500):
                Repository.insert_many(rows[start : start + 500]).execute()
            repo_ids = [r.id for r in Repository.select(Repository.id)]
            points = [
                {
                    "repository": rid,
                    "time": naive - dt.timedelta(days=d),
                    "bytes_used": 10**9,
                    "file_count": 100,
                }
                for rid in repo_ids
                for d in (0, 1, 2)
            ]
            for start in range(0, len(points), 500):
                Statistic.insert_many(points[start : start + 500]).execute()
            written = seed_reports(reports, firing, now) if reports else 0
            if history:
                print(f"seeded {seed_history(history, now)} transactions of history")
        if written and not isinstance(db, SqliteDatabase):
            # What autovacuum does after such a load: without statistics PostgreSQL plans
            # the reports' index ranges as if the table were empty.
            db.execute_sql("ANALYZE client_report")
        return written


@contextlib.contextmanager
def webhook_server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        server.shutdown()
        server.server_close()


def reset(config: Config) -> None:
    with open_store(config.store), write_transaction():
        AlertState.delete().execute()
        Event.delete().execute()


def timed_check(config: Config, clock: alerts.Clock, send: object, label: str) -> float:
    spent = [0.0]
    calls = [0]

    def sender(kind: str, target: str, message: Message) -> None:
        calls[0] += 1
        started = time.perf_counter()
        if callable(send):
            send(kind, target, message)
        spent[0] += time.perf_counter() - started

    with open_store(config.store):
        started = time.perf_counter()
        report = alerts.check_alerts(config, clock, sender=sender)
        total = time.perf_counter() - started
    own = total - spent[0]
    print(
        f"  {label:<34} {total:7.3f} s total, {spent[0]:7.3f} s in channels, "
        f"{own:7.3f} s own  ({report.repositories} checked, {report.firing} firing, "
        f"{calls[0]} sent, {report.failed} failed)"
    )
    return own


def timed(config: Config, label: str, action: object) -> float:
    with open_store(config.store):
        started = time.perf_counter()
        result = action() if callable(action) else None
        elapsed = time.perf_counter() - started
    print(f"  {label:<34} {elapsed:7.3f} s  ({len(result) if result is not None else 0} rows)")
    return elapsed


def command(config: Config, workdir: Path) -> float:
    """The installed command end to end (interpreter start included), as cron runs it."""
    path = workdir / "borghive.toml"
    path.write_text(
        f'[store]\nurl = "{config.store.url}"\n[repos]\nroot = "{config.repos.root}"\n'
        f'host = "{config.repos.host}"\n'
    )
    borghive = str(Path(sys.executable).parent / "borghive")
    started = time.perf_counter()
    done = subprocess.run(
        [borghive, "--config", str(path), "alert", "check", "--dry-run", "--json"],
        capture_output=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    planned = len(json.loads(done.stdout)["deliveries"]) if done.returncode == 0 else -1
    print(f"  {'borghive alert check --dry-run':<34} {elapsed:7.3f} s  ({planned} planned)")
    return elapsed


def make_directories(config: Config, repos: int, stuck: int) -> None:
    """Each repository's top level as borg 1.2 leaves it (the lock-stuck check lists it), and
    ``stuck`` of them locked for a day."""
    held = time.time() - 86400
    step = max(1, repos // max(stuck, 1))
    for n in range(repos):
        path = Path(repository_path(config.repos.root, f"r{n:07d}", f"repo{n:05d}"))
        (path / "data").mkdir(parents=True)
        for name in ("config", "README", "hints.5", "index.5", "integrity.5", "nonce"):
            (path / name).write_bytes(b"")
        if stuck and n % step == 1 and n // step < stuck:
            lock = path / "lock.exclusive"
            lock.mkdir()
            (lock / f"elsewhere.example.org@1.{4000 + n}-0").write_bytes(b"")
            os.utime(lock, (held, held))


def run(url: str, args: argparse.Namespace, workdir: Path) -> bool:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    config = Config(
        source="<bench>",
        store=StoreConfig(url=url, busy_timeout=30.0),
        repos=ReposConfig(root=workdir / "repos", host="backup.example.org"),
    )
    started = time.perf_counter()
    reports = seed(config, args.repos, args.owners, args.firing, now, args.reports, args.history)
    make_directories(config, args.repos, args.stuck)
    print(
        f"seeded {args.repos} repositories, {args.owners} owners/channels, "
        f"{args.repos * 3} usage points, {reports} client reports "
        f"in {time.perf_counter() - started:.1f} s "
        f"({url.split(':')[0]})"
    )

    def clock() -> dt.datetime:
        return now

    worst = 0.0
    timed(config, "dry run", lambda: alerts.check_alerts(config, clock, dry_run=True).deliveries)
    timed(config, "alert list", lambda: alerts.list_firing(config, clock))
    worst = max(worst, command(config, workdir))
    worst = max(worst, timed_check(config, clock, None, "check, no-op channel"))
    worst = max(worst, timed_check(config, clock, None, "check again, nothing due"))
    reset(config)
    webhook_config = dataclasses.replace(config, alerts=AlertsConfig(webhook_timeout=5.0))
    with webhook_server() as hook:
        with open_store(config.store), write_transaction():
            NotifyChannel.update(kind="webhook", target=hook).execute()
        notifier = Notifier(webhook_config.alerts)
        worst = max(
            worst, timed_check(webhook_config, clock, notifier.send, "check, real local webhook")
        )
    ok = worst < TARGET_S
    print(
        f"worst own time {worst:.3f} s; target < {TARGET_S:.0f} s: {'met' if ok else 'MISSED'} "
        f"({TARGET_S / worst if worst else float('inf'):.0f}x headroom)"
    )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repos", type=int, default=10_000)
    parser.add_argument("--owners", type=int, default=1_000)
    parser.add_argument("--firing", type=int, default=500)
    parser.add_argument("--stuck", type=int, default=50, help="repositories locked for a day")
    parser.add_argument(
        "--reports",
        type=int,
        default=0,
        help="nights of client reports per repository (a start and a success each); "
        "the firing ones also report a failure with a 100 kB log",
    )
    parser.add_argument(
        "--history",
        type=int,
        default=0,
        help="days of transaction history per repository (a backup and a small prune each)",
    )
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="borghive-bench-alerts-") as tmp:
        workdir = Path(tmp)
        if args.postgres:
            with postgres_server() as url:
                ok = run(url, args, workdir)
        else:
            ok = run(f"sqlite:///{workdir}/borghive.db", args, workdir)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
