"""The login snapshot (borghive.service.hosts.snapshot) and the login query's host filter:
on PostgreSQL the answers from the snapshot are those of a SQLite store holding the same
data, the snapshot holds only this host's rows, is replaced whole with the configuration
file's group and read bits, and authkeys refuses it when missing, stale or writable by
others. On both back ends a repository living on another host gets no line."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from borghive.config import Config
from borghive.config_load import load_config
from borghive.login.authkeys import authorized_keys
from borghive.login.cache import login_settings
from borghive.login.lines import AuthKeysError
from borghive.login.settings import Settings
from borghive.service.hosts.snapshot import (
    refresh_snapshot,
    snapshot_path,
    snapshot_state,
)
from borghive.service.users import people as users
from borghive.store import open_store
from tests.harness.authkeys import add_key, create_repository, tamper
from tests.harness.config import config_toml, make_config, migrate
from tests.harness.keys import PublicKey
from tests.harness.postgres import PostgresServer

PG = [pytest.param("pg", marks=pytest.mark.pg)]


def settings_of(config_file: Path) -> Settings:
    return Settings.from_mapping(login_settings(load_config(config_file, {})))


def make_data(config: Config, keys: list[PublicKey]) -> list[str]:
    """Two owners, keys with and without source restrictions, repositories of each mode,
    one disabled, one with a quota: their repository users."""
    users.add_user("alice")
    users.add_user("bob")
    add_key("alice", keys[0], "laptop")
    add_key("alice", keys[1], "desktop", allowed_from="192.0.2.0/24")
    add_key("bob", keys[2], "server")
    return [
        create_repository(config, "alice/photos", full=("laptop",), append_only=("desktop",)),
        create_repository(config, "alice/mail", full=("desktop",), quota=20 * 10**9),
        create_repository(config, "bob/import", full=("server",), mode="import"),
        create_repository(config, "bob/off", full=("server",), mode="disabled"),
    ]


def answers(config_file: Path, repo_users: list[str], keys: list[PublicKey]) -> list[str]:
    settings = settings_of(config_file)
    found = [authorized_keys(settings, user) for user in repo_users]
    found += [
        authorized_keys(settings, user, key.key_type, key.blob)
        for user in repo_users
        for key in keys[:3]
    ]
    return [text.replace(str(load_config(config_file, {}).repos.root), "ROOT") for text in found]


@pytest.mark.pg
def test_answers_from_the_snapshot_equal_those_of_a_sqlite_store(
    tmp_path: Path, postgres_server: PostgresServer, public_keys: list[PublicKey]
) -> None:
    results = {}
    for backend in ("sqlite", "pg"):
        directory = tmp_path / backend
        directory.mkdir()
        if backend == "pg":
            url = postgres_server.url
            postgres_server.psql(
                "DROP SCHEMA public CASCADE; CREATE SCHEMA public;",
                database=postgres_server.database,
            )
        else:
            url = f"sqlite:///{directory}/borghive.db"
        config = migrate(make_config(directory, url))
        config_file = directory / "borghive.toml"
        config_file.write_text(config_toml(config))
        with open_store(config.store):
            repo_users = make_data(config, public_keys)
            refreshed = refresh_snapshot(load_config(config_file, {}))
        if backend == "sqlite":
            assert refreshed is None
            assert not Path(f"{config_file}.snapshot").exists()
        else:
            assert refreshed is not None
            assert (refreshed.repositories, refreshed.grants) == (4, 5)
        # the generated repository users differ between the stores: compare by position
        results[backend] = [
            text.replace(user, "USER")
            for text, user in zip(
                answers(config_file, repo_users, public_keys),
                repo_users + [u for u in repo_users for _ in range(3)],
                strict=True,
            )
        ]
    assert results["pg"] == results["sqlite"]
    assert sum(1 for text in results["pg"] if text) >= 6  # real answers were compared


@pytest.fixture
def placed(alice_store: Config, public_keys: list[PublicKey], config_file: Path) -> str:
    """A repository of alice's opened by her laptop key: its repository user."""
    add_key("alice", public_keys[0], "laptop")
    return create_repository(alice_store, "alice/photos", full=("laptop",))


@pytest.fixture
def alice_store(store: Config) -> Config:
    users.add_user("alice")
    return store


def test_a_repository_on_another_host_gets_nothing(
    placed: str, config_file: Path, public_keys: list[PublicKey], backend: str
) -> None:
    refresh_snapshot(load_config(config_file, {}))
    assert authorized_keys(settings_of(config_file), placed) != ""

    tamper("UPDATE repository SET host = {p} WHERE repo_user = {p}", "other.example.org", placed)
    refresh_snapshot(load_config(config_file, {}))

    settings = settings_of(config_file)
    assert authorized_keys(settings, placed) == ""
    assert authorized_keys(settings, placed, public_keys[0].key_type, public_keys[0].blob) == ""


@pytest.mark.parametrize("backend", PG)
def test_the_snapshot_holds_only_this_host_s_rows(
    placed: str, alice_store: Config, config_file: Path, public_keys: list[PublicKey]
) -> None:
    add_key("alice", public_keys[1], "elsewhere")
    other = create_repository(alice_store, "alice/other", full=("elsewhere",))
    tamper("UPDATE repository SET host = {p} WHERE repo_user = {p}", "other.example.org", other)
    config = load_config(config_file, {})

    result = refresh_snapshot(config)

    assert result is not None and result.path == snapshot_path(config)
    assert result.path == Path(f"{config_file}.snapshot")
    connection = sqlite3.connect(f"file:{result.path}?mode=ro", uri=True)
    try:
        assert connection.execute("SELECT repo_user, host FROM repository").fetchall() == [
            (placed, config.repos.public_host)
        ]
        assert connection.execute("SELECT name FROM ssh_key").fetchall() == [("laptop",)]
        assert connection.execute("SELECT COUNT(*) FROM access").fetchone() == (1,)
        assert connection.execute("SELECT version FROM schema_migration").fetchone() == (9,)
    finally:
        connection.close()
    # replaced whole: no temporary file left, the config file's group and read bits
    assert [p.name for p in config_file.parent.iterdir() if p.name.endswith(".tmp")] == []
    assert os.stat(result.path).st_mode & 0o777 == os.stat(config_file).st_mode & 0o644


@pytest.mark.parametrize("backend", PG)
def test_authkeys_refuses_a_missing_stale_or_foreign_snapshot(
    placed: str, config_file: Path
) -> None:
    config = load_config(config_file, {})
    settings = settings_of(config_file)
    path = snapshot_path(config)
    assert path is not None
    with pytest.raises(AuthKeysError, match="No such file"):
        authorized_keys(settings, placed)

    refresh_snapshot(config)
    assert authorized_keys(settings, placed) != ""
    state = snapshot_state(config)
    assert state.exists and state.trusted and state.age is not None and state.age < 60

    hour_ago = time.time() - 3601  # hosts.snapshot_trust's default is 1h
    os.utime(path, (hour_ago, hour_ago))
    with pytest.raises(AuthKeysError, match=r"confirmed current 36\d\ds ago, trusted for 3600s"):
        authorized_keys(settings, placed)
    assert not snapshot_state(config).trusted

    os.utime(path)
    path.chmod(0o664)
    with pytest.raises(AuthKeysError, match="writable by nobody else"):
        authorized_keys(settings, placed)
    path.chmod(0o644)
    os.chown(path, 65534, -1)
    with pytest.raises(AuthKeysError, match="owned by uid 65534"):
        authorized_keys(settings, placed)


@pytest.mark.parametrize("backend", PG)
def test_a_failed_rebuild_keeps_the_old_snapshot(
    placed: str, config_file: Path, tmp_path: Path
) -> None:
    config = load_config(config_file, {})
    first = refresh_snapshot(config)
    assert first is not None
    before = first.path.read_bytes()
    # the directory of the temporary file is gone: the rebuild fails before any rename
    moved = load_config(config_file, {"BORGHIVE_HOSTS_SNAPSHOT": str(tmp_path / "gone/x")})
    with pytest.raises(OSError):
        refresh_snapshot(moved)
    assert first.path.read_bytes() == before


def test_the_snapshot_path_is_defined_once(tmp_path: Path) -> None:
    sqlite = make_config(tmp_path, f"sqlite:///{tmp_path}/b.db")
    assert snapshot_path(sqlite) is None
    assert login_settings(sqlite)["snapshot_path"] is None
    postgres = make_config(tmp_path, "postgresql://postgres@db/borghive")
    assert snapshot_path(postgres) == Path("/etc/borghive/borghive.toml.snapshot")
    config_file = tmp_path / "borghive.toml"
    config_file.write_text(config_toml(postgres))
    loaded = load_config(config_file, {})
    assert snapshot_path(loaded) == Path(f"{config_file}.snapshot")
    assert login_settings(loaded)["snapshot_path"] == f"{config_file}.snapshot"
    assert login_settings(loaded)["snapshot_trust"] == 3600.0
    assert login_settings(loaded)["host_name"] == loaded.repos.public_host


@pytest.mark.parametrize("backend", PG)
def test_no_snapshot_is_written_for_a_configuration_without_a_file(
    placed: str, tmp_path: Path
) -> None:
    """A process configured without a file (the built-in /etc path) keeps no snapshot:
    refresh_snapshot (which repo move, host refresh and the CLI hook call) writes nothing."""
    config = make_config(tmp_path, "postgresql://postgres@db/borghive")
    assert config.source.startswith("<")  # no file
    default = snapshot_path(config)
    assert default == Path("/etc/borghive/borghive.toml.snapshot")
    existed = default.exists()
    assert refresh_snapshot(config) is None
    assert default.exists() == existed
    if default.parent.is_dir():
        assert not list(default.parent.glob(f".{default.name}.*"))
