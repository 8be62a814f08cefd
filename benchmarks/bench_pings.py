"""``borghive pings`` under load: 1,000 repositories pinging at once on loopback.

Measures, against the targets (p99 < 50 ms at 500 pings/s, RSS < 80 MB, start-up < 1 s):

1. start-up: from spawning ``borghive pings`` to its port accepting connections (median of
   ``--starts`` runs);
2. a burst: every repository sends ``/start`` at the same moment (a new connection each, as
   curl does): wall time and p99;
3. sustained pings per second: ``--concurrency`` clients in a closed loop;
4. p50/p99 answer latency at ``--rate`` pings/s (open loop, ``--seconds`` long) of a mix
   like borgmatic's (start, a log body of ``--body`` bytes with the success), while a second
   process writes events to the same store as the watch daemon would (``--watch-rate``
   transactions a second), and how long until the store holds every report;
5. the daemon's RSS at the end.

    .venv/bin/python -m benchmarks.bench_pings              # SQLite
    .venv/bin/python -m benchmarks.bench_pings --postgres   # a throwaway PostgreSQL server
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.harness.config import config_toml, make_config, migrate
from tests.harness.environment import borghive_command
from tests.harness.net import free_port, wait_for_port
from tests.harness.pings import rss_kib
from tests.harness.postgres import postgres_bindir, running_postgres

TARGET_P99 = 0.050
TARGET_RSS_MB = 80.0
TARGET_START = 1.0

_WATCH_WRITER = """
import sys, time
from borghive.config_load import load_config
from borghive.store import open_store, write_transaction
from borghive.store.models import Event, Repository
config = load_config(sys.argv[1]); rate = float(sys.argv[2]); count = int(sys.argv[3])
with open_store(config.store):
    ids = [r.id for r in Repository.select(Repository.id).limit(count)]
    n = 0
    while True:
        with write_transaction():
            Event.create(repository=ids[n % len(ids)], kind="updated", detail="bench")
            Repository.update(last_update=Repository.created).where(
                Repository.id == ids[n % len(ids)]).execute()
        n += 1
        time.sleep(1 / rate)
"""


@contextlib.contextmanager
def store_url(scratch: Path, postgres: bool) -> Iterator[str]:
    if not postgres:
        yield f"sqlite:///{scratch}/borghive.db"
        return
    bindir = postgres_bindir()
    if bindir is None:
        sys.exit("bench: PostgreSQL server binaries not found (apt-get install postgresql)")
    with running_postgres(bindir, "borghive_bench") as server:
        yield server.url


def seed(url: str, scratch: Path, repositories: int) -> tuple[Path, list[str]]:
    """A migrated store with ``repositories`` repositories and their tokens; the config file."""
    from borghive.store import open_store
    from borghive.store.models import Repository, User

    config = migrate(make_config(scratch, url))
    tokens = [secrets.token_urlsafe(32) for _ in range(repositories)]
    with open_store(config.store) as db, db.atomic():
        User.insert(id=1, name="bench").execute()
        rows = [
            {
                "owner": 1,
                "name": f"repo{n:05d}",
                "repo_user": f"r{n:07d}",
                "uid_number": 200_000 + n,
                "host": "backup.example.org",
                "ping_token": token,
                "created": dt.datetime(2026, 1, 1),
            }
            for n, token in enumerate(tokens)
        ]
        for start in range(0, len(rows), 200):
            Repository.insert_many(rows[start : start + 200]).execute()
    path = scratch / "borghive.toml"
    path.write_text(
        config_toml(
            config,
            pings={
                "port": free_port(),
                "spool": str(scratch / "pings.spool"),
                "max_connections": 2000,
            },
        )
    )
    return path, tokens


def port_of(config_file: Path) -> int:
    from borghive.config_load import load_config

    return load_config(config_file).pings.port


def start(config_file: Path) -> tuple[subprocess.Popen[bytes], float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BORGHIVE_")}
    started = time.perf_counter()
    process = subprocess.Popen(
        [borghive_command(), "--config", str(config_file), "pings"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    wait_for_port(port_of(config_file), 30)
    return process, time.perf_counter() - started


def stop(process: subprocess.Popen[bytes]) -> str:
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    if process.returncode != 0:
        sys.exit(f"bench: borghive pings exited {process.returncode}: {err.decode()[-2000:]}")
    return err.decode()


async def ping(port: int, path: str, body: bytes = b"") -> float:
    began = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    method = "POST" if body else "GET"
    writer.write(
        f"{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    answer = await reader.read()
    writer.close()
    if not answer.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"answer {answer[:80]!r}")
    return time.perf_counter() - began


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def burst(port: int, tokens: list[str]) -> tuple[float, list[float]]:
    began = time.perf_counter()
    latencies = await asyncio.gather(*(ping(port, f"/ping/{t}/start") for t in tokens))
    return time.perf_counter() - began, list(latencies)


async def closed_loop(port: int, tokens: list[str], count: int, concurrency: int) -> float:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(n: int) -> None:
        async with semaphore:
            await ping(port, f"/ping/{tokens[n % len(tokens)]}/log", b"x" * 200)

    began = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(count)))
    return count / (time.perf_counter() - began)


async def open_loop(
    port: int, tokens: list[str], rate: float, seconds: float, body: bytes
) -> list[float]:
    tasks = []
    began = time.perf_counter()
    for n in range(int(rate * seconds)):
        delay = began + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        token = tokens[(n // 2) % len(tokens)]
        if n % 2 == 0:
            tasks.append(asyncio.create_task(ping(port, f"/ping/{token}/start")))
        else:
            tasks.append(asyncio.create_task(ping(port, f"/ping/{token}", body)))
    return list(await asyncio.gather(*tasks))


def stored_reports(config_file: Path) -> int:
    from borghive.config_load import load_config
    from borghive.store import open_store
    from borghive.store.models import ClientReport

    with open_store(load_config(config_file).store, readonly=True):
        return int(ClientReport.select().count())


def ratio(value: float, target: float) -> str:
    verdict = "PASS" if value < target else "FAIL"
    return f"{value / target:5.2f} of the target  {verdict}"


def benchmark(arguments: argparse.Namespace, scratch: Path, url: str, backend: str) -> bool:
    config_file, tokens = seed(url, scratch, arguments.repos)
    port = port_of(config_file)
    starts = []
    for _ in range(arguments.starts):
        process, seconds = start(config_file)
        starts.append(seconds)
        stop(process)
    process, _ = start(config_file)
    watcher = subprocess.Popen(
        [sys.executable, "-c", _WATCH_WRITER, str(config_file), str(arguments.watch_rate), "1000"]
    )
    try:
        wall, burst_latencies = asyncio.run(burst(port, tokens))
        sustained = asyncio.run(closed_loop(port, tokens, arguments.closed, arguments.concurrency))
        body = b"borgmatic log line\n" * (arguments.body // 19)
        cpu_before = cpu_seconds(process.pid)
        latencies = asyncio.run(open_loop(port, tokens, arguments.rate, arguments.seconds, body))
        cpu_per_ping = (cpu_seconds(process.pid) - cpu_before) / len(latencies)
        load = os.getloadavg()[0]
        sent = len(tokens) + arguments.closed + len(latencies)
        began = time.perf_counter()
        while stored_reports(config_file) < min(sent, arguments.repos * 100):
            if time.perf_counter() - began > 120:
                break
            time.sleep(0.2)
        drained = time.perf_counter() - began
        rss = rss_kib(process.pid) / 1024
    finally:
        watcher.terminate()
        watcher.wait()
        log = stop(process)
    start_median = statistics.median(starts)
    p50, p99 = quantile(latencies, 0.5), quantile(latencies, 0.99)
    print(f"\n== {backend}: {arguments.repos} repositories, watch writer {arguments.watch_rate}/s")
    print(
        f"start-up (median of {len(starts)})   {start_median * 1000:7.0f} ms   "
        + ratio(start_median, TARGET_START)
    )
    print(
        f"burst: {len(tokens)} at once          {wall * 1000:7.0f} ms   "
        f"p99 {quantile(burst_latencies, 0.99) * 1000:.0f} ms"
    )
    print(f"sustained ({arguments.concurrency} clients)       {sustained:7.0f} pings/s")
    print(f"at {arguments.rate:.0f} pings/s: p50           {p50 * 1000:7.1f} ms")
    print(
        f"at {arguments.rate:.0f} pings/s: p99           {p99 * 1000:7.1f} ms   "
        + ratio(p99, TARGET_P99)
    )
    print(
        f"daemon CPU per ping at {arguments.rate:.0f}/s  {cpu_per_ping * 1e6:7.0f} us   "
        f"({cpu_per_ping * arguments.rate * 100:.0f}% of one core; load average {load:.1f} "
        f"on {os.cpu_count()} cores)"
    )
    print(
        f"store holds every report after {drained:5.1f} s more ({sent} sent, kept per "
        "repository: 100)"
    )
    print(f"RSS at the end                {rss:7.1f} MB   " + ratio(rss, TARGET_RSS_MB))
    print("daemon: " + log.strip().splitlines()[-1])
    return p99 < TARGET_P99 and rss < TARGET_RSS_MB and start_median < TARGET_START


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL store")
    parser.add_argument("--repos", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--closed", type=int, default=5000, help="pings of the closed loop")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--body", type=int, default=2000, help="bytes of the success's log")
    parser.add_argument("--watch-rate", type=float, default=50.0)
    parser.add_argument("--starts", type=int, default=5)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-pings-") as directory:
        scratch = Path(directory)
        backend = "PostgreSQL" if arguments.postgres else "SQLite"
        with store_url(scratch, arguments.postgres) as url:
            ok = benchmark(arguments, scratch, url, backend)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
