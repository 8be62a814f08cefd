"""Several storage hosts: ``host list`` and placement on one PostgreSQL store holding
100,000 repositories across 50 hosts.

Measures, against the targets (host list < 1 s, placement < 100 ms):

1. ``list_hosts`` (the service call behind ``host list``): median of ``--rounds``;
2. ``borghive host list`` and ``host list --json`` as subprocesses (what an admin waits
   for), beside ``borghive --version`` (the start-up every command pays) as baseline;
3. ``choose_host(config, None)`` (automatic placement: this host's report and the most
   free host), median of ``--rounds``.

    .venv/bin/python -m benchmarks.bench_hosts
    .venv/bin/python -m benchmarks.bench_hosts --repositories 10000 --hosts 5
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.harness.config import config_toml, make_config, migrate
from tests.harness.environment import borghive_command
from tests.harness.postgres import postgres_bindir, running_postgres

TARGET_LIST = 1.0
TARGET_PLACEMENT = 0.100
THIS_HOST = "host00.example.org"


def seed(url: str, scratch: Path, repositories: int, hosts: int) -> Path:
    """A migrated store with ``hosts`` reported hosts and ``repositories`` repositories
    spread over them (10 per owner); returns the config file of host00."""
    from borghive.store import open_store, write_transaction
    from borghive.store.models import Repository, StorageHost, User

    config = migrate(make_config(scratch, url))
    config_file = scratch / "borghive.toml"
    text = config_toml(config).replace('host = "backup.example.org"', f'host = "{THIS_HOST}"')
    config_file.write_text(text)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    names = [f"host{n:02d}.example.org" for n in range(hosts)]
    with open_store(config.store), write_transaction():
        StorageHost.delete().execute()
        StorageHost.insert_many(
            [
                {
                    "name": name,
                    "ssh_port": 22,
                    "capacity": 10**13,
                    "used": 10**12 * (n % 7),
                    "free": 10**13 - 10**12 * (n % 7),
                    "repositories": 0,
                    "reported": now,
                    "version": "0.1.0",
                    "draining": n % 10 == 9,
                    "created": now,
                }
                for n, name in enumerate(names)
            ]
        ).execute()
        owners = (repositories + 9) // 10
        for start in range(0, owners, 1000):
            User.insert_many(
                [
                    {"name": f"user{i:06d}", "created": now}
                    for i in range(start, min(owners, start + 1000))
                ]
            ).execute()
        ids = [user.id for user in User.select(User.id).order_by(User.id)]
        for start in range(0, repositories, 1000):
            Repository.insert_many(
                [
                    {
                        "owner": ids[index // 10],
                        "name": f"repo{index % 10}",
                        "repo_user": f"r{index:07d}",
                        "uid_number": 200000 + index,
                        "mode": "borg" if index % 20 else "disabled",
                        "host": names[index % hosts],
                        "created": now,
                    }
                    for index in range(start, min(repositories, start + 1000))
                ]
            ).execute()
    return config_file


def median_time(action: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def command_time(argv: list[str], rounds: int) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BORGHIVE_")}

    def run() -> None:
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)

    return median_time(run, rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repositories", type=int, default=100_000)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    bindir = postgres_bindir()
    if bindir is None:
        sys.exit("bench: PostgreSQL server binaries not found (apt-get install postgresql)")
    from borghive.config_load import load_config
    from borghive.service.hosts.listing import list_hosts
    from borghive.service.hosts.placement import choose_host
    from borghive.store import open_store

    with tempfile.TemporaryDirectory() as tmp, running_postgres(bindir, "borghive_bench") as pg:
        scratch = Path(tmp)
        started = time.perf_counter()
        config_file = seed(pg.url, scratch, args.repositories, args.hosts)
        print(
            f"seeded {args.repositories:,} repositories on {args.hosts} hosts "
            f"in {time.perf_counter() - started:.1f}s"
        )
        config = load_config(config_file)
        with open_store(config.store):
            listed = list_hosts(config)
            assert len(listed) == args.hosts
            assert sum(h.repositories for h in listed) == args.repositories
            service = median_time(lambda: list_hosts(config), args.rounds)
            placement = median_time(lambda: choose_host(config, None), args.rounds)
            chosen = choose_host(config, None)
        command = borghive_command()
        base = [command, "--config", str(config_file)]
        baseline = command_time([command, "--version"], args.rounds)
        table = command_time([*base, "host", "list"], args.rounds)
        as_json = command_time([*base, "host", "list", "--json"], args.rounds)
    print(f"{'measure':<34}{'seconds':>10}{'target':>10}{'of target':>11}")
    for name, value, target in (
        ("list_hosts (service)", service, TARGET_LIST),
        ("borghive host list", table, TARGET_LIST),
        ("borghive host list --json", as_json, TARGET_LIST),
        ("choose_host (automatic)", placement, TARGET_PLACEMENT),
    ):
        print(f"{name:<34}{value:>10.4f}{target:>10.3f}{value / target:>10.1%}")
    print(
        f"borghive --version (baseline)     {baseline:>10.4f}   host list = "
        f"{table / baseline:.2f}x the start-up; placement chose {chosen}"
    )


if __name__ == "__main__":
    main()
