"""Schema migrations and the schema check of open_store."""

from __future__ import annotations

from pathlib import Path

import pytest

from borghive.config import Config
from borghive.errors import StoreOutdatedError
from borghive.store import open_store
from borghive.store.migrations import LATEST_VERSION, MIGRATIONS, apply_migrations, current_version
from borghive.store.models import SchemaMigration
from tests.harness.config import make_config

TABLES = {"person", "ssh_key", "repository", "access", "event", "statistic", "schema_migration"}


def test_fresh_store_migrates_once(config: Config) -> None:
    with open_store(config.store, check_schema=False, create=True) as db:
        assert current_version(db) == 0
        first = apply_migrations(db)
        second = apply_migrations(db)
        expected = list(range(1, len(MIGRATIONS) + 1))
        assert [m.version for m in first] == expected == [m.version for m in MIGRATIONS]
        assert second == []
        assert current_version(db) == LATEST_VERSION
        assert set(db.get_tables()) >= TABLES
        assert [r.version for r in SchemaMigration.select()] == expected
    with open_store(config.store) as db:  # now the schema check passes
        assert current_version(db) == LATEST_VERSION


def test_unmigrated_store_refused(config: Config) -> None:
    with open_store(config.store, check_schema=False, create=True) as db:
        assert current_version(db) == 0

    with pytest.raises(StoreOutdatedError) as caught, open_store(config.store):
        pytest.fail("open_store accepted an unmigrated store")

    assert caught.value.exit_code == 78
    assert f"schema version 0, this borghive needs {LATEST_VERSION}" in caught.value.message
    assert caught.value.hint == "run 'borghive migrate'"


def test_newer_store_refused(migrated: Config) -> None:
    with open_store(migrated.store) as db:
        SchemaMigration.create(version=LATEST_VERSION + 1, description="from the future")
        assert current_version(db) == LATEST_VERSION + 1

    with pytest.raises(StoreOutdatedError) as caught, open_store(migrated.store):
        pytest.fail("open_store accepted a newer store")

    assert caught.value.exit_code == 78
    assert "newer than this borghive" in caught.value.message
    assert caught.value.hint == "upgrade borghive"
    with open_store(migrated.store, check_schema=False) as db:  # and it was left as it was
        assert apply_migrations(db) == []
        assert current_version(db) == LATEST_VERSION + 1


def test_missing_sqlite_file_refused(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "borghive.db"
    config = make_config(tmp_path, f"sqlite:///{path}")

    with pytest.raises(StoreOutdatedError) as caught, open_store(config.store):
        pytest.fail("open_store accepted a missing file")

    assert caught.value.exit_code == 78
    assert "no database yet" in caught.value.message
    assert "borghive migrate" in (caught.value.hint or "")
    assert not path.exists()
    assert not path.parent.exists()
