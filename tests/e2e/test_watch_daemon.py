"""The installed ``borghive watch`` in a subprocess, driven by the real borg client on local
paths in a temporary repos root (real inotify, SQLite store)."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from borghive.config import Config
from tests.harness.borg import borg
from tests.harness.environment import borghive_command
from tests.harness.watch import (
    StoreReader,
    WatchProcess,
    add_repository,
    newest_index_mtime,
    stored_time,
    wait_for,
)

pytestmark = pytest.mark.e2e


def _source(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    source.mkdir(exist_ok=True)
    for number in range(3):
        (source / f"file{number}").write_bytes(os.urandom(200_000))
    return source


def _expect(reader: StoreReader, repo_user: str, expected: list[str]) -> None:
    """Wait until the repository's event kinds are exactly ``expected``."""
    wait_for(lambda: reader.kinds(repo_user) == expected, what=f"events {expected}")


def test_borg_operations_record_one_event_sequence_each(
    tmp_path: Path, sqlite_store: Config, reader: StoreReader, watcher: WatchProcess
) -> None:
    repo_user = add_repository(sqlite_store, "alice", "laptop")
    home = sqlite_store.repos.root / repo_user
    home.mkdir()  # what pam_mkhomedir does at the first login, after the daemon started
    repository = home / "laptop"
    source = _source(tmp_path)
    work = tmp_path

    borg("init", "-e", "repokey", str(repository), cwd=work)
    seen = ["created", "opened", "updated", "closed"]
    _expect(reader, repo_user, seen)

    borg("create", f"{repository}::first", str(source), cwd=work)
    seen += ["opened", "updated", "closed"]
    _expect(reader, repo_user, seen)
    assert reader.events(repo_user)[-2] == ("updated", "1 commit")
    # After an update the daemon has the stats service measure the repository.
    wait_for(lambda: reader.statistics(repo_user), what="a statistics refresh")
    bytes_used, file_count = reader.statistics(repo_user)[-1]
    assert int(str(bytes_used)) > 0
    assert int(str(file_count)) > 0
    wait_for(
        lambda: (
            reader.times(repo_user)
            == (
                stored_time(repository.stat().st_mtime),
                stored_time(newest_index_mtime(repository)),
            )
        ),
        what="times from mtimes",
    )

    for operation in (
        ("list", str(repository)),
        ("extract", "--dry-run", f"{repository}::first"),
    ):
        borg(*operation, cwd=work)
        seen += ["opened", "closed"]
        _expect(reader, repo_user, seen)

    borg("create", f"{repository}::second", str(source), cwd=work)
    borg("prune", "--keep-last", "1", str(repository), cwd=work)
    borg("compact", str(repository), cwd=work)
    seen += ["opened", "updated", "closed"] * 3
    _expect(reader, repo_user, seen)
    update_times = (
        stored_time(repository.stat().st_mtime),
        stored_time(newest_index_mtime(repository)),
    )
    wait_for(lambda: reader.times(repo_user) == update_times, what="times after compact")

    borg("delete", str(repository), cwd=work)
    seen += ["opened", "closed", "deleted"]
    _expect(reader, repo_user, seen)
    time.sleep(0.5)
    assert reader.kinds(repo_user) == seen, "no further events"


def test_home_removed_and_recreated(
    tmp_path: Path, sqlite_store: Config, reader: StoreReader, watcher: WatchProcess
) -> None:
    repo_user = add_repository(sqlite_store, "bob", "server")
    home = sqlite_store.repos.root / repo_user
    home.mkdir()
    borg("init", "-e", "repokey", str(home / "server"), cwd=tmp_path)
    seen = ["created", "opened", "updated", "closed"]
    _expect(reader, repo_user, seen)

    shutil.rmtree(home)
    seen += ["deleted"]
    _expect(reader, repo_user, seen)

    home.mkdir()
    borg("init", "-e", "repokey", str(home / "server"), cwd=tmp_path)
    seen += ["created", "opened", "updated", "closed"]
    _expect(reader, repo_user, seen)


def test_repository_created_before_its_home_is_watched(
    tmp_path: Path, sqlite_store: Config, reader: StoreReader, watcher: WatchProcess
) -> None:
    """A whole tree appearing at once (home and initialised repository moved into the
    root) is found by scanning the new home: created, with its times."""
    repo_user = add_repository(sqlite_store, "carol", "nas")
    staging = tmp_path / "staging" / repo_user
    staging.mkdir(parents=True)
    borg("init", "-e", "repokey", str(staging / "nas"), cwd=tmp_path)
    staging.rename(sqlite_store.repos.root / repo_user)
    _expect(reader, repo_user, ["created"])
    repository = sqlite_store.repos.root / repo_user / "nas"
    wait_for(
        lambda: (
            reader.times(repo_user)
            == (
                stored_time(repository.stat().st_mtime),
                stored_time(newest_index_mtime(repository)),
            )
        ),
        what="times of the moved-in repository",
    )


def test_directory_without_repository_is_logged_once_and_ignored(
    tmp_path: Path, sqlite_store: Config, reader: StoreReader, watcher: WatchProcess
) -> None:
    stray = sqlite_store.repos.root / "rstray01" / "photos"
    stray.parent.mkdir()
    borg("init", "-e", "repokey", str(stray), cwd=tmp_path)
    borg("list", str(stray), cwd=tmp_path)
    wait_for(lambda: "ignoring" in watcher.text(), what="log line")
    time.sleep(0.5)
    assert watcher.text().count(f"ignoring {stray}") == 1, watcher.text()
    assert reader.event_count() == 0


def test_store_unavailable_buffers_and_loses_nothing(
    tmp_path: Path, sqlite_store: Config, reader: StoreReader, watcher: WatchProcess
) -> None:
    repo_user = add_repository(sqlite_store, "dave", "desktop")
    home = sqlite_store.repos.root / repo_user
    home.mkdir()
    with reader.locked():
        borg("init", "-e", "repokey", str(home / "desktop"), cwd=tmp_path)
        borg("list", str(home / "desktop"), cwd=tmp_path)
        wait_for(lambda: "store unavailable" in watcher.text(), what="outage logged")
        time.sleep(2.0)  # several failed retries while the lock is held
    _expect(reader, repo_user, ["created", "opened", "updated", "closed", "opened", "closed"])
    wait_for(lambda: "store available again" in watcher.text(), what="recovery logged")
    assert watcher.text().count("store unavailable") == 1, watcher.text()
    assert watcher.process.poll() is None


def test_sigterm_flushes_buffered_events_and_exits_0(
    tmp_path: Path, sqlite_store: Config, reader: StoreReader, watch_config_file: Path
) -> None:
    repo_user = add_repository(sqlite_store, "erin", "laptop")
    home = sqlite_store.repos.root / repo_user
    home.mkdir()
    process = WatchProcess(watch_config_file, tmp_path / "watch.log")
    try:
        with reader.locked():
            borg("init", "-e", "repokey", str(home / "laptop"), cwd=tmp_path)
            wait_for(lambda: "store unavailable" in process.text(), what="outage logged")
            process.signal(signal.SIGTERM)
            time.sleep(1.0)  # the daemon is retrying its final flush now
            assert process.process.poll() is None
    finally:
        code = process.stop()
    assert code == 0, process.text()
    assert reader.kinds(repo_user) == ["created", "opened", "updated", "closed"]


def test_sighup_reloads_the_configuration(
    tmp_path: Path,
    sqlite_store: Config,
    reader: StoreReader,
    watch_config_file: Path,
    watcher: WatchProcess,
) -> None:
    new_root = tmp_path / "other-repos"
    new_root.mkdir()
    text = watch_config_file.read_text().replace(str(sqlite_store.repos.root), str(new_root))
    watch_config_file.write_text(text)
    watcher.signal(signal.SIGHUP)
    wait_for(lambda: "configuration reloaded" in watcher.text(), what="reload logged")
    repo_user = add_repository(sqlite_store, "frank", "laptop")
    (new_root / repo_user).mkdir()
    borg("init", "-e", "repokey", str(new_root / repo_user / "laptop"), cwd=tmp_path)
    _expect(reader, repo_user, ["created", "opened", "updated", "closed"])

    watch_config_file.write_text("[store]\nnonsense = 1\n")
    watcher.signal(signal.SIGHUP)
    wait_for(lambda: "configuration not reloaded" in watcher.text(), what="refusal logged")
    assert watcher.process.poll() is None


def test_once_reconciles_times_from_mtimes(
    tmp_path: Path, sqlite_store: Config, reader: StoreReader, watch_config_file: Path
) -> None:
    import subprocess

    repo_user = add_repository(sqlite_store, "grace", "laptop")
    repository = sqlite_store.repos.root / repo_user / "laptop"
    repository.mkdir(parents=True)
    for name in ("README", "config", "index.3", "index.7", "hints.7", "integrity.7"):
        (repository / name).write_text("x")
    os.utime(repository / "index.3", (1_600_000_000, 1_600_000_000))
    os.utime(repository / "index.7", (1_700_000_000.25, 1_700_000_000.25))
    os.utime(repository, (1_700_000_100, 1_700_000_100))
    result = subprocess.run(
        [borghive_command(), "--config", str(watch_config_file), "watch", "--once"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "1 repository directories, 1 updated, 0 not in the store" in result.stdout
    assert reader.times(repo_user) == (
        stored_time(1_700_000_100),
        stored_time(1_700_000_000.25),
    )
    assert reader.event_count() == 0


def test_an_unmigrated_store_is_refused_not_migrated(tmp_path: Path) -> None:
    import subprocess

    database = tmp_path / "new.db"
    config_file = tmp_path / "new.toml"
    config_file.write_text(f'[store]\nurl = "sqlite:///{database}"\n[repos]\nroot = "{tmp_path}"\n')
    result = subprocess.run(
        [borghive_command(), "--config", str(config_file), "watch"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 78, result.stderr
    assert "borghive migrate" in result.stderr
    assert not database.exists()
