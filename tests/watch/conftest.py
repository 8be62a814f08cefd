"""Fixtures of the watch tests: a migrated SQLite store, its config file and a running
``borghive watch`` subprocess."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import make_config

from borghive.config import Config

from .harness import StoreReader, WatchProcess, store_reader, watch_toml


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Config:
    """A configuration on a migrated SQLite store with an empty repos root."""
    from borghive.store import open_store
    from borghive.store.migrations import apply_migrations

    config = make_config(tmp_path, f"sqlite:///{tmp_path}/borghive.db")
    with open_store(config.store, check_schema=False, create=True) as db:
        apply_migrations(db)
    return config


@pytest.fixture
def watch_config_file(tmp_path: Path, sqlite_store: Config) -> Path:
    path = tmp_path / "watch.toml"
    path.write_text(watch_toml(sqlite_store))
    return path


@pytest.fixture
def reader(sqlite_store: Config) -> StoreReader:
    return store_reader(sqlite_store)


@pytest.fixture
def watcher(tmp_path: Path, watch_config_file: Path) -> Iterator[WatchProcess]:
    process = WatchProcess(watch_config_file, tmp_path / "watch.log")
    yield process
    code = process.stop()
    assert code == 0, process.text()
    assert "Traceback" not in process.text(), process.text()
