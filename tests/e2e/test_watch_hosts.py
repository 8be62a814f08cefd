"""The watch daemon on a host of several: its heartbeat reports this host at start, and
the directory of a repository that lives on another storage host (a copy a move left
behind) is ignored quietly, while this host's own repositories are still recorded."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from borghive.config import Config
from borghive.store import open_store
from borghive.store.models import Repository
from tests.harness.watch import WatchProcess, add_repository, wait_for

pytestmark = pytest.mark.e2e


def _fake_repository(path: Path) -> None:
    (path / "data").mkdir(parents=True)
    (path / "README").write_text("This is a Borg Backup repository.\n")
    (path / "config").write_text("[repository]\nversion = 1\n")


def test_heartbeat_reports_and_other_hosts_repositories_are_ignored(
    tmp_path: Path, sqlite_store: Config, watch_config_file: Path
) -> None:
    here = add_repository(sqlite_store, "alice", "here")
    there = add_repository(sqlite_store, "alice", "there")
    with open_store(sqlite_store.store):
        Repository.update(host="b.example.org").where(Repository.repo_user == there).execute()
    _fake_repository(sqlite_store.repos.root / here / "here")
    _fake_repository(sqlite_store.repos.root / there / "there")
    database = str(sqlite_store.store.url).removeprefix("sqlite:///")

    def query(sql: str, *params: object) -> list[tuple[object, ...]]:
        with sqlite3.connect(database) as connection:
            return connection.execute(sql, params).fetchall()

    query("UPDATE storage_host SET reported = NULL, capacity = NULL")
    watcher = WatchProcess(watch_config_file, tmp_path / "watch.log")
    try:
        wait_for(
            lambda: query(
                "SELECT capacity FROM storage_host WHERE name = 'backup.example.org' "
                "AND reported IS NOT NULL AND capacity > 0"
            ),
            what="the heartbeat's first report",
        )
        wait_for(
            lambda: "lives on another storage host" in watcher.text(),
            what="the other host's repository ignored",
        )
        wait_for(
            lambda: query("SELECT last_access FROM repository WHERE repo_user = ?", here)[0][0],
            what="this host's repository recorded",
        )
        [(access,)] = query("SELECT last_access FROM repository WHERE repo_user = ?", there)
        assert access is None
        assert f"no repository there of user {there}" not in watcher.text()
    finally:
        code = watcher.stop()
    assert code == 0, watcher.text()
    assert "Traceback" not in watcher.text()
    [(repositories,)] = query("SELECT repositories FROM storage_host")
    assert repositories == 1
