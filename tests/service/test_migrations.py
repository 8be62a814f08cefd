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


def _columns(db: object, table: str) -> set[str]:
    return {column.name for column in db.get_columns(table)}  # type: ignore[attr-defined]


def test_the_models_match_the_latest_migration(migrated: Config) -> None:
    """Every model's columns are exactly the migrated table's: a model field without a
    migration (or a migration without its field) fails here on both back ends."""
    from borghive.store import models

    with open_store(migrated.store) as db:
        for model in models.BaseModel.__subclasses__():
            table = model._meta.table_name
            fields = {field.column_name for field in model._meta.sorted_fields}
            assert fields == _columns(db, table), table


def test_migration_5_keeps_alert_states_and_takes_new_kinds(config: Config) -> None:
    """The alert_state rebuild keeps every row (PostgreSQL and SQLite) and then accepts a
    kind the old CHECK refused."""
    from borghive.store.db import execute
    from borghive.store.migrations import _CREATE_LEDGER, _primary_key
    from borghive.store.models import AlertState, Repository

    with open_store(config.store, check_schema=False, create=True) as db:
        execute(_CREATE_LEDGER, db=db)
        for migration in MIGRATIONS[:4]:
            for statement in migration.statements:
                execute(statement.format(pk=_primary_key(db)), db=db)
            SchemaMigration.create(version=migration.version, description="test")
        execute(
            "INSERT INTO person (name, realert_interval, alert_expiration, created) "
            "VALUES ('ann', 1, 1, '2026-01-02 00:00:00')",
            db=db,
        )
        execute(
            "INSERT INTO repository (owner_id, name, repo_user, uid_number, mode, created) "
            "VALUES (1, 'docs', 'ann-docs', 20001, 'borg', '2026-01-02 00:00:00')",
            db=db,
        )
        execute(
            "INSERT INTO notify_channel (owner_id, kind, target, created) "
            "VALUES (1, 'email', 'a@b.example', '2026-01-02 00:00:00')",
            db=db,
        )
        execute(
            "INSERT INTO alert_state (repository_id, channel_id, kind, since, level, "
            "sent_count, recovering, failures) "
            "VALUES (1, 1, 'stale', '2026-01-02 00:00:00', 0, 3, FALSE, 0)",
            db=db,
        )
        assert [m.version for m in apply_migrations(db)] == [m.version for m in MIGRATIONS[4:]]
        kept = AlertState.get()
        assert (kept.kind, kept.sent_count, kept.detail) == ("stale", 3, "")
        AlertState.create(repository=1, channel=1, kind="check-failed", since=kept.since)
        assert AlertState.select().count() == 2
        assert Repository.get().compact_append_only is False


def _migrate_to(db: object, version: int) -> None:
    """Apply the migrations up to ``version`` as they shipped (no parameters before 9)."""
    from borghive.store.db import execute
    from borghive.store.migrations import _CREATE_LEDGER, _primary_key

    execute(_CREATE_LEDGER, db=db)  # type: ignore[arg-type]
    for migration in MIGRATIONS[:version]:
        for statement in migration.statements:
            execute(statement.format(pk=_primary_key(db)), db=db)  # type: ignore[arg-type]
        SchemaMigration.create(version=migration.version, description="test")


def test_migration_9_places_existing_repositories_on_the_migrating_host(config: Config) -> None:
    from borghive.store.db import execute
    from borghive.store.models import Repository, StorageHost

    with open_store(config.store, check_schema=False, create=True) as db:
        _migrate_to(db, 8)
        execute(
            "INSERT INTO person (name, realert_interval, alert_expiration, created) "
            "VALUES ('ann', 1, 1, '2026-01-02 00:00:00')",
            db=db,
        )
        execute(
            "INSERT INTO repository (owner_id, name, repo_user, uid_number, mode, created) "
            "VALUES (1, 'docs', 'rdocs', 20001, 'borg', '2026-01-02 00:00:00'), "
            "(1, 'mail', 'rmail', 20002, 'borg', '2026-01-02 00:00:00')",
            db=db,
        )
        assert [m.version for m in apply_migrations(db, "store-a.example.org")] == [9]
        assert {r.host for r in Repository.select()} == {"store-a.example.org"}
        host = StorageHost.get()
        assert (host.name, host.draining, host.reported) == ("store-a.example.org", False, None)
        # and the second host to migrate finds nothing to do: its repositories come later
        assert apply_migrations(db, "store-b.example.org") == []
        assert StorageHost.select().count() == 1


@pytest.mark.pg
def test_login_changes_notify_the_hosts_they_concern(
    postgres_server: object, tmp_path: Path
) -> None:
    """The migration's trigger: a change logins read notifies borghive_login with the
    repository's host ('' when every host may be concerned); statistics and session
    updates do not notify."""
    import select

    import psycopg2

    from tests.harness.postgres import PostgresServer

    assert isinstance(postgres_server, PostgresServer)
    server = postgres_server
    server.psql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;", database=server.database)
    config = make_config(tmp_path, server.url)
    listener = psycopg2.connect(server.url)
    listener.autocommit = True
    try:
        with open_store(config.store, check_schema=False, create=True) as db:
            apply_migrations(db, "host-a")
            listener.cursor().execute("LISTEN borghive_login")

            def heard(sql: str) -> list[str]:
                with db.atomic():
                    db.execute_sql(sql)
                select.select([listener], [], [], 0.5)
                listener.poll()
                payloads = [n.payload for n in listener.notifies]
                listener.notifies.clear()
                return payloads

            assert (
                heard(
                    "INSERT INTO person (name, realert_interval, alert_expiration, created) "
                    "VALUES ('ann', 1, 1, now())"
                )
                == []
            )
            assert heard(
                "INSERT INTO repository (owner_id, name, repo_user, uid_number, mode, "
                "created, host) VALUES (1, 'docs', 'rdocs', 20001, 'borg', now(), 'host-b')"
            ) == ["host-b"]
            assert heard("UPDATE repository SET last_access = now(), last_update = now()") == []
            assert heard("UPDATE repository SET mode = 'disabled'") == ["host-b"]
            assert sorted(heard("UPDATE repository SET host = 'host-a'")) == ["host-a", "host-b"]
            assert heard(
                "INSERT INTO ssh_key (owner_id, name, key_type, bits, fingerprint, public_key, "
                "comment, created) VALUES (1, 'k', 'ssh-ed25519', 256, 'SHA256:x', 'AAAA', '', "
                "now())"
            ) == [""]
            assert heard("UPDATE ssh_key SET last_used = now(), last_used_from = '1.2.3.4'") == []
            assert heard(
                "INSERT INTO access (repository_id, key_id, mode) VALUES (1, 1, 'full')"
            ) == ["host-a"]
            assert heard("DELETE FROM access") == ["host-a"]
            assert heard("UPDATE ssh_key SET allowed_from = '10.0.0.0/8'") == [""]
    finally:
        listener.close()
