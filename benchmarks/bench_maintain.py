"""``borghive maintain`` with nothing due, and the overhead of ``repo compact``/``check``.

1. Seeds a SQLite store with ``--repos`` repository records (one user per 10), each
   compacted and checked a moment ago, so nothing is due; then times ``borghive maintain
   --json`` as a subprocess (load, plan, /proc scan for sessions, print; no borg) against
   ``python -c pass`` and ``borghive --version`` (interpreter and import start-up).
   Target: less than 1 s beyond interpreter start.
2. As root: one real borg repository (made by borg, owned by a repository uid); times
   ``borg compact`` and ``borg check --repository-only`` run directly as that user, and
   ``borghive repo compact``/``check`` (which run the same borg the same way), medians of
   ``--rounds`` interleaved runs. Target: overhead below 300 ms.

    .venv/bin/python -m benchmarks.bench_maintain [--repos 10000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
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
BORG = shutil.which("borg") or "/usr/bin/borg"
UID, GID = 200000, 200000


def timed(command: list[str], **kwargs: object) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, check=False, **kwargs)  # type: ignore[call-overload]
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{command[:4]} failed: {done.stderr.decode()[-500:]}")
    return elapsed


def median_of(rounds: int, command: list[str], **kwargs: object) -> float:
    return statistics.median(timed(command, **kwargs) for _ in range(rounds))


def write_config(scratch: Path, root: Path) -> Path:
    config = scratch / "borghive.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{scratch}/borghive.db"\n[repos]\nroot = "{root}"\n'
        f'host = "backup.example.org"\ngid = {GID}\n[borg]\npath = "{BORG}"\n'
    )
    subprocess.run([BORGHIVE, "--config", str(config), "migrate"], check=True, capture_output=True)
    return config


def seed(config: Path, repos: int) -> None:
    from borghive.config_load import load_config
    from borghive.store import open_store, write_transaction
    from borghive.store.models import Repository, User

    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with open_store(load_config(config).store), write_transaction():
        owners = (repos + 9) // 10
        User.insert_many(
            [{"name": f"user{i:05d}", "created": now} for i in range(owners)]
        ).execute()
        ids = [user.id for user in User.select(User.id).order_by(User.id)]
        rows = [
            {
                "owner": ids[index // 10],
                "name": f"backup{index}",
                "repo_user": f"r{index:07d}",
                "uid_number": UID + index,
                "host": "backup.example.org",
                "mode": "borg",
                "created": now,
                "last_compact": now,
                "last_check": now,
            }
            for index in range(repos)
        ]
        for start in range(0, len(rows), 500):
            Repository.insert_many(rows[start : start + 500]).execute()


def nothing_due(scratch: Path, repos: int, rounds: int) -> None:
    root = scratch / "repos"
    root.mkdir()
    config = write_config(scratch, root)
    seed(config, repos)
    maintain = [BORGHIVE, "--config", str(config), "maintain", "--json"]
    out = subprocess.run(maintain, capture_output=True, text=True, check=True).stdout
    assert '"results": []' in out and '"planned": []' in out, out[:300]
    interpreter = median_of(rounds, [sys.executable, "-c", "pass"])
    version = median_of(rounds, [BORGHIVE, "--version"])
    run = median_of(rounds, maintain)
    print(f"maintain, {repos} repositories, nothing due: {run:.3f} s (median of {rounds})")
    print(f"  python -c pass: {interpreter:.3f} s; borghive --version: {version:.3f} s")
    print(
        f"  beyond interpreter start: {run - interpreter:.3f} s "
        f"(ratio to interpreter start {run / interpreter:.1f}x; target < 1 s)"
    )


def overhead(scratch: Path, rounds: int) -> None:
    if os.geteuid() != 0:
        print("repo compact/check overhead: skipped (needs root to run borg as a repository user)")
        return
    scratch.chmod(0o755)  # the repository user walks down to its repository
    scratch = scratch / "overhead"
    scratch.mkdir(mode=0o755)
    root = scratch / "repos"
    config = write_config(scratch, root)
    from borghive.config_load import load_config
    from borghive.store import open_store, write_transaction
    from borghive.store.models import Repository, User

    with open_store(load_config(config).store), write_transaction():
        owner = User.create(name="alice")
        Repository.create(
            owner=owner,
            name="photos",
            repo_user="rbench01",
            uid_number=UID,
            host="backup.example.org",
        )
    path = root / "rbench01" / "photos"
    path.parent.mkdir(parents=True)
    home = scratch / "home"
    home.mkdir()
    source = scratch / "source"
    source.mkdir()
    (source / "data").write_bytes(os.urandom(20_000_000))
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "BORG_BASE_DIR": str(home),
        "BORG_PASSPHRASE": "x",
        "USER": "bench",
    }
    for args in (["init", "-e", "repokey", str(path)], ["create", f"{path}::a", str(source)]):
        subprocess.run([BORG, *args], env=env, check=True, capture_output=True)
    for directory, _, names in os.walk(root):
        os.chown(directory, UID, GID)
        for name in names:
            os.chown(Path(directory, name), UID, GID)
    as_user = {
        "user": UID,
        "group": GID,
        "extra_groups": [],
        "umask": 0o077,
        "env": {"PATH": "/usr/bin:/bin", "HOME": str(home), "BORG_BASE_DIR": str(home)},
    }
    home.chmod(0o777)
    for action, borg_args in (
        ("compact", ["compact", str(path)]),
        ("check", ["check", "--repository-only", str(path)]),
    ):
        alone, command = [], []
        for _ in range(rounds):
            alone.append(timed([BORG, *borg_args], **as_user))
            command.append(
                timed([BORGHIVE, "--config", str(config), "repo", action, "alice/photos"])
            )
        borg_time, borghive_time = statistics.median(alone), statistics.median(command)
        print(
            f"repo {action}: borg alone {borg_time:.3f} s, borghive repo {action} "
            f"{borghive_time:.3f} s, overhead {1000 * (borghive_time - borg_time):.0f} ms "
            f"(median of {rounds}; target < 300 ms)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="borghive-bench-maintain-"))
    try:
        nothing_due(scratch, arguments.repos, arguments.rounds)
        overhead(scratch, arguments.rounds)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
