"""A maintenance site: a store with users, keys and borg repositories made by a real borg
client running as each repository user, under a repository root that repository users can
reach (pytest's own temporary directory is private to root), and a client session holding
a repository's lock (``borg with-lock`` with the forced command's key marker)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from borghive.config import BorgConfig, Config, MaintenanceConfig
from borghive.rules.times import utcnow
from borghive.service.history.record import record_history
from borghive.service.repositories import lifecycle as repos
from borghive.service.repositories.backends import accounts_backend
from borghive.service.users import keys
from borghive.service.users import people as users
from borghive.sessions.locks import lock_holders
from borghive.store import open_store
from borghive.store.models import Repository, RepoTransaction
from tests.harness.borg import BORG
from tests.harness.cli import Cli
from tests.harness.config import config_toml, make_config, migrate
from tests.harness.environment import missing_service, public_dir, remove_tree
from tests.harness.keys import ed25519_line

PASSPHRASE = "maintenance test passphrase"


@dataclass
class MaintenanceSite:
    """``cli`` on a migrated store; ``gid`` the repositories' group; ``home`` a directory
    the repository users may write (their borg base directories)."""

    cli: Cli
    config: Config
    home: Path

    def add(self, name: str, *, append_only: bool = False) -> tuple[str, Path, int]:
        """Repository alice/NAME (key laptop, or append-only key desktop): (repository
        user, path, uid). Its directory exists, owned by the repository user."""
        with open_store(self.config.store):
            grant = {"append_only_keys": ["desktop"]} if append_only else {"keys": ["laptop"]}
            created = repos.create_repository(
                self.config, accounts_backend(self.config), f"alice/{name}", **grant
            )
        info = created.repository
        path = Path(info.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chown(path.parent, info.uid_number, self.config.repos.gid)
        return info.repo_user, path, info.uid_number

    def client(self, uid: int, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """The borg client as the repository user (local path, its own base directory)."""
        base = self.home / str(uid)
        base.mkdir(exist_ok=True)
        os.chown(base, uid, self.config.repos.gid)
        done = subprocess.run(
            [BORG, *args],
            capture_output=True,
            text=True,
            env={
                "PATH": "/usr/bin:/bin",
                "HOME": str(base),
                "BORG_BASE_DIR": str(base),
                "BORG_PASSPHRASE": PASSPHRASE,
                "USER": f"uid{uid}",  # no passwd entry: borg create asks getpass.getuser()
            },
            user=uid,
            group=self.config.repos.gid,
            extra_groups=[],
            cwd=base,
            timeout=120,
            check=False,
        )
        if check:
            assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done

    def initialised(
        self, name: str, *, append_only: bool = False, settled: bool = True
    ) -> tuple[Path, int]:
        """A repository a client initialised, filled with two archives and pruned to one
        (so compaction has a segment to free): (path, uid). ``settled``: its history is
        read and the prune acknowledged and made older than the compaction hold, so that
        compaction may run."""
        _, path, uid = self.add(name, append_only=append_only)
        source = self.home / f"source-{uid}"
        source.mkdir()
        os.chown(source, uid, self.config.repos.gid)
        data = source / "data.bin"
        self.client(uid, "init", "--encryption=repokey", str(path))
        data.write_bytes(os.urandom(2_000_000))
        os.chown(data, uid, self.config.repos.gid)
        self.client(uid, "create", f"{path}::one", str(source))
        data.write_bytes(os.urandom(2_000_000))
        self.client(uid, "create", f"{path}::two", str(source))
        self.client(uid, "prune", "--keep-last=1", str(path))
        if settled:
            self.settle(name, path)
        return path, uid

    def settle(self, name: str, path: Path, *, days: int = 365) -> None:
        """Read the repository's history into the store, acknowledge its deletions and move
        every transaction ``days`` back (past any compaction hold)."""
        with open_store(self.config.store):
            repo = repos.find_repository(f"alice/{name}")
            record_history(repo, path)
            now = utcnow()
            RepoTransaction.update(acknowledged=now).where(
                (RepoTransaction.repository == repo) & (RepoTransaction.deletes > 0)
            ).execute()
            self.age(name, days=days)

    def age(self, name: str, *, days: float) -> None:
        """Move every stored transaction of alice/NAME ``days`` back (an open store)."""
        repo = repos.find_repository(f"alice/{name}")
        for row in RepoTransaction.select().where(RepoTransaction.repository == repo):
            RepoTransaction.update(time=row.time - timedelta(days=days)).where(
                RepoTransaction.id == row.id
            ).execute()

    def repository(self, name: str) -> Repository:
        with open_store(self.config.store, readonly=True):
            repo: Repository = repos.find_repository(f"alice/{name}")
            return repo

    @contextmanager
    def session(self, path: Path, uid: int, fingerprint: str) -> Iterator[int]:
        """A client session holding the lock: ``borg with-lock PATH sleep`` as the
        repository user with the key marker; yields its pid once the lock is taken."""
        base = self.home / f"lock-{uid}"
        base.mkdir(exist_ok=True)
        os.chown(base, uid, self.config.repos.gid)
        process = subprocess.Popen(
            [BORG, "with-lock", str(path), "sleep", "300"],
            env={
                "PATH": "/usr/bin:/bin",
                "HOME": str(base),
                "BORG_BASE_DIR": str(base),
                "BORGHIVE_KEY": fingerprint,
                "SSH_CONNECTION": "192.0.2.7 50123 192.0.2.1 22",
            },
            user=uid,
            group=self.config.repos.gid,
            extra_groups=[],
            cwd=base,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 20
            while not any(h.pid == process.pid for h in lock_holders(path)):
                assert process.poll() is None, "borg with-lock ended"
                assert time.monotonic() < deadline, "borg with-lock took no lock"
                time.sleep(0.05)
            yield process.pid
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            process.wait(timeout=20)


def make_site(store_url: str, tmp_path: Path, root: Path, **sections: object) -> MaintenanceSite:
    """A migrated site under ``root`` on ``store_url``; ``sections`` override config."""
    base = make_config(tmp_path, store_url)
    config = Config(
        source="<tests>",
        store=base.store,
        repos=type(base.repos)(root=root / "repos", host="backup.example.org"),
        watch=base.watch,
        borg=sections.get("borg", BorgConfig(path=Path(BORG))),  # type: ignore[arg-type]
        maintenance=sections.get("maintenance", MaintenanceConfig()),  # type: ignore[arg-type]
    )
    config.repos.root.mkdir(mode=0o755, exist_ok=True)
    migrate(config)
    toml = config_toml(
        config,
        borg={"path": str(config.borg.path)},
        maintenance={
            "compact_every": config.maintenance.compact_every,
            "check_every": config.maintenance.check_every,
            "window": config.maintenance.window,
            "jobs": config.maintenance.jobs,
        },
    )
    config_file = tmp_path / "borghive.toml"
    config_file.write_text(toml)
    with open_store(config.store):
        users.add_user("alice", "alice@example.org")
        for name in ("laptop", "desktop"):
            keys.add_key("alice", ed25519_line(f"alice@{name}"), name, rsa_min_bits=3072)
    home = root / "home"
    home.mkdir(mode=0o777)
    home.chmod(0o1777)
    return MaintenanceSite(Cli(config_file, config, CliRunner()), config, home)


@pytest.fixture
def maintenance_root() -> Iterator[Path]:
    """A 0755 root-owned directory repository users can enter; removed afterwards."""
    if os.geteuid() != 0:
        missing_service("maintenance runs borg as repository users: the tests need root")
    root = public_dir("borghive-maintenance-")
    yield root
    remove_tree(root)


@pytest.fixture
def maintenance_site(store_url: str, tmp_path: Path, maintenance_root: Path) -> MaintenanceSite:
    """A maintenance site on the test's store (both back ends)."""
    return make_site(store_url, tmp_path, maintenance_root)
