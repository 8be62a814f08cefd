"""SQLite specifics: pragmas, and a read-only reader running as an unprivileged user."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from peewee import IntegrityError

from borghive.config import Config
from borghive.service.repositories import lifecycle as repos
from borghive.service.users import people as users
from borghive.store import execute, open_store
from borghive.store.migrations import apply_migrations
from borghive.store.models import User
from tests.harness.config import make_config
from tests.harness.environment import NOBODY, as_user, missing_service

from .helpers import FakeAccounts

PYTHON = sys.executable


def migrated_sqlite(directory: Path) -> Config:
    config = make_config(directory, f"sqlite:///{directory}/borghive.db")
    with open_store(config.store, check_schema=False, create=True) as db:
        apply_migrations(db)
    return config


def test_pragmas(tmp_path: Path) -> None:
    config = migrated_sqlite(tmp_path)
    with open_store(config.store):
        assert execute("PRAGMA foreign_keys").fetchone()[0] == 1
        # rollback journal, not WAL: a WAL reader would need to write the -shm file
        assert execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        with pytest.raises(IntegrityError):
            execute(
                "INSERT INTO access (repository_id, key_id, mode) VALUES (?, ?, ?)",
                (41, 42, "full"),
            )
        assert execute("SELECT COUNT(*) FROM access").fetchone()[0] == 0


READER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from borghive.config import Config, ReposConfig, StoreConfig
    from borghive.errors import BorghiveError
    from borghive.service.repositories.view import list_repositories
    from borghive.service.users.people import add_user
    from borghive.store import open_store

    config = Config(
        store=StoreConfig(url=sys.argv[1], busy_timeout=2.0),
        repos=ReposConfig(root=Path(sys.argv[2]), host="backup.example.org"),
    )
    with open_store(config.store, readonly=True):
        print(" ".join(f"{r.owner}/{r.name}" for r in list_repositories(config)), flush=True)
    try:
        with open_store(config.store, readonly=True):
            add_user("mallory")
    except BorghiveError as exc:
        print(f"refused: {type(exc).__name__}: {exc.message}")
    else:
        print("written")
    """
)


def test_unprivileged_reader(world_readable: Path) -> None:
    if os.geteuid() != 0:
        missing_service("needs root to run the reader as another user")
    shared_directory = world_readable  # everyone may traverse it, only root may write
    config = migrated_sqlite(shared_directory)
    accounts = FakeAccounts()
    with open_store(config.store):
        users.add_user("alice")
        repos.create_repository(config, accounts, "alice/home")
        repos.create_repository(config, accounts, "alice/work")
    database = shared_directory / "borghive.db"
    database.chmod(0o644)
    assert sorted(p.name for p in shared_directory.iterdir()) == ["borghive.db", "repos"]

    result = subprocess.run(
        [
            *as_user(*NOBODY),
            PYTHON,
            "-c",
            READER,
            config.store.url,
            str(config.repos.root),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )

    assert result.returncode == 0, result.stderr
    listing, refusal = result.stdout.splitlines()
    assert listing == "alice/home alice/work"
    assert refusal.startswith("refused: "), refusal
    assert "readonly" in refusal
    with open_store(config.store):
        assert [u.name for u in User.select()] == ["alice"]
    # the reader left no journal or other file behind
    assert sorted(p.name for p in shared_directory.iterdir()) == ["borghive.db", "repos"]
