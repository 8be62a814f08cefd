"""The login path's PostgreSQL access (borghive.login.pq): the system libpq through ctypes, and
psycopg2 where libpq.so.5 cannot be loaded. Both must give the same answers, bind every
value as a parameter, stay read-only and fail closed; the watchdog must still end a call
blocked inside libpq."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from borghive.config import Config
from borghive.errors import ConfigError
from borghive.login import authkeys, lines, pq, query
from borghive.login import cache as login_copy
from borghive.login import settings as login_settings
from borghive.login.configfiles import read_secret
from tests.harness.authkeys import (
    add_key,
    borg_line,
    create_repository,
    tamper,
)
from tests.harness.config import make_config
from tests.harness.keys import PublicKey

PG = [pytest.param("pg", marks=pytest.mark.pg)]


def settings_of(configuration: Config) -> login_settings.Settings:
    return login_settings.Settings.from_mapping(login_copy.login_settings(configuration))


@pytest.fixture(params=["libpq", "psycopg2"])
def driver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which way authkeys reaches PostgreSQL: libpq.so.5, or psycopg2 because the library
    cannot be loaded (the fallback)."""
    if request.param == "psycopg2":
        monkeypatch.setattr(pq, "LIBRARY", "libpq-not-installed.so.5")
    return str(request.param)


@pytest.fixture
def connection(migrated: Config) -> Iterator[pq.Connection]:
    """A libpq connection to the test store, as authkeys opens it."""
    opened = pq.connect(query.postgres_parameters(settings_of(migrated)))
    assert isinstance(opened, pq.Connection)
    yield opened
    opened.close()


@pytest.mark.parametrize("backend", PG)
def test_the_driver_in_use(alice: Config, driver: str) -> None:
    opened = query._connect(settings_of(alice))
    try:
        expected = pq.Connection if driver == "libpq" else pq.Psycopg2Connection
        assert type(opened) is expected
        assert opened.rows("SELECT current_setting('application_name'), 1", (), (1,)) == [
            ("borghive-authkeys", 1)
        ]
    finally:
        opened.close()


@pytest.mark.parametrize("backend", PG)
def test_both_drivers_give_the_same_answers(
    alice: Config, public_keys: list[PublicKey], driver: str
) -> None:
    add_key("alice", public_keys[0], "laptop", allowed_from="192.0.2.0/24")
    add_key("alice", public_keys[1], "desktop")
    add_key("alice", public_keys[2], "spare")
    repo_user = create_repository(
        alice, "alice/photos", full=("laptop",), append_only=("desktop",), quota=2 * 10**12
    )
    other = create_repository(alice, "alice/music", full=("desktop",))
    settings = settings_of(alice)
    laptop, desktop, spare = public_keys[:3]

    answers = {
        "user": authkeys.authorized_keys(settings, repo_user),
        "laptop": authkeys.authorized_keys(settings, repo_user, laptop.key_type, laptop.blob),
        "spare": authkeys.authorized_keys(settings, repo_user, spare.key_type, spare.blob),
        "other": authkeys.authorized_keys(settings, other),
        "unknown": authkeys.authorized_keys(settings, "rzzzzzzz"),
    }

    quota = " --storage-quota 2000000000000"
    laptop_line = borg_line(
        alice, repo_user, "photos", laptop, "laptop", serve_options=quota, sources="192.0.2.0/24"
    )
    assert answers == {
        "user": borg_line(
            alice,
            repo_user,
            "photos",
            desktop,
            "desktop",
            serve_options=" --append-only" + quota,
        )
        + laptop_line,
        "laptop": laptop_line,
        "spare": "",
        "other": borg_line(alice, other, "music", desktop, "desktop"),
        "unknown": "",
    }


@pytest.mark.parametrize("backend", PG)
@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("UPDATE repository SET quota = -1", "stored quota '-1' is not a positive integer"),
        ("UPDATE schema_migration SET version = version + 100", "store schema version"),
        ("DELETE FROM schema_migration", "store schema version None"),
    ],
    ids=["quota", "newer-schema", "no-schema-row"],
)
def test_both_drivers_refuse_alike(
    alice: Config, public_keys: list[PublicKey], driver: str, sql: str, reason: str
) -> None:
    add_key("alice", public_keys[0], "laptop")
    repo_user = create_repository(alice, "alice/photos", full=("laptop",), quota=10**9)
    tamper(sql)
    settings = settings_of(alice)

    with pytest.raises(lines.AuthKeysError, match=reason):
        authkeys.authorized_keys(settings, repo_user)
    if "schema" in reason:  # an unknown user is no way around an outdated store
        with pytest.raises(lines.AuthKeysError, match=reason):
            authkeys.authorized_keys(settings, "rzzzzzzz")


@pytest.mark.parametrize("backend", PG)
def test_values_come_back_typed(connection: pq.Connection) -> None:
    rows = connection.rows(
        "SELECT 1, -12, NULL::bigint, NULL::text, '', 'grüß', 9223372036854775807"
        " UNION ALL SELECT 2, 0, 3, 'x', 'y', 'z', -9223372036854775808 ORDER BY 1",
        (),
        integers=(0, 1, 2, 6),
    )

    assert rows == [
        (1, -12, None, None, "", "grüß", 2**63 - 1),
        (2, 0, 3, "x", "y", "z", -(2**63)),
    ]
    assert connection.rows("SELECT 1 WHERE false", ()) == []


@pytest.mark.parametrize("backend", PG)
@pytest.mark.parametrize("text", [" 12", "1_000", "+5", "1.5", "12 --append-only", "١٢", "-"])
def test_integers_are_strictly_decimal(connection: pq.Connection, text: str) -> None:
    with pytest.raises(pq.PqError, match="expected an integer"):
        connection.rows("SELECT $1::text", (text,), integers=(0,))


@pytest.mark.parametrize("backend", PG)
def test_parameters_are_bound_not_interpolated(connection: pq.Connection) -> None:
    hostile = "x'; DROP TABLE repository; --"

    assert connection.rows("SELECT $1::text, $2::text", (hostile, "$1")) == [(hostile, "$1")]
    with pytest.raises(pq.PqError, match="NUL"):
        connection.rows("SELECT $1::text", ("a\0b",))
    assert connection.rows("SELECT count(*) FROM repository", (), (0,)) == [(0,)]


@pytest.mark.parametrize("backend", PG)
def test_the_connection_is_read_only_and_utf8(connection: pq.Connection) -> None:
    assert connection.rows("SELECT current_setting('client_encoding')", ()) == [("UTF8",)]
    with pytest.raises(pq.PqError, match="read-only transaction"):
        connection.rows("CREATE TABLE intruder (id integer)", ())
    with pytest.raises(pq.PqError, match="does not exist"):
        connection.rows("SELECT * FROM no_such_table", ())


def test_connection_failure_raises_libpq_s_message(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    library = pq.open_library(pq.LIBRARY)
    parameters = {"host": "127.0.0.1", "port": str(port), "dbname": "db", "password": "s3cret"}

    with pytest.raises(pq.PqError, match="Connection refused") as caught:
        pq.Connection(library, parameters)
    assert "s3cret" not in str(caught.value)
    assert "\n" not in str(caught.value)
    with pytest.raises(pq.PqError, match="NUL"):
        pq.Connection(library, {**parameters, "dbname": "d\0b"})


def test_a_missing_library_is_an_os_error() -> None:
    with pytest.raises(OSError, match="libpq-not-installed"):
        pq.open_library("libpq-not-installed.so.5")


SECRETS = {
    "plain": (b"s3cret\n", "s3cret"),
    "spaces-and-more-lines": (b"  s3cret  \nsecond line\n", "s3cret"),
    "crlf": (b"s3cret\r\n", "s3cret"),
    "no-newline": (b"s3cret", "s3cret"),
    "empty": (b"", "error: store.password_file: {path} is empty"),
    "blank-first-line": (b"\ns3cret\n", "error: store.password_file: {path} is empty"),
    "only-spaces": (b"   \n", "error: store.password_file: {path} is empty"),
    "not-utf-8": (b"s3cr\xffet\n", "error: store.password_file: {path} is not UTF-8 text"),
}


@pytest.mark.parametrize(("content", "expected"), SECRETS.values(), ids=SECRETS.keys())
def test_password_reader(tmp_path: Path, content: bytes, expected: str) -> None:
    """One reader for the loader, the login copy and authkeys: the first line, stripped;
    an empty or undecodable file is an error naming the file, never its content."""
    path = tmp_path / "password"
    path.write_bytes(content)

    assert _secret(read_secret, str(path)) == expected.format(path=path)


def test_password_reader_unreadable_files(tmp_path: Path) -> None:
    assert _secret(read_secret, str(tmp_path / "missing")).startswith(
        "error: store.password_file: cannot read"
    )
    assert _secret(read_secret, str(tmp_path)) == (
        f"error: store.password_file: {tmp_path} is not a regular file"
    )


def _secret(reader: Callable[[Any, str], str], path: str | Path) -> str:
    try:
        return reader(path, "store.password_file")
    except (lines.AuthKeysError, ConfigError) as exc:
        return f"error: {exc}"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1:5433/borghive_db",
        "postgres://back%40up@Db.Example.ORG/d%2Fb",
        "postgresql://[2001:db8::1]:6543/x",
        "postgresql:///",
        "postgresql://host",
    ],
)
def test_login_settings_split_the_url_as_the_store_does(tmp_path: Path, url: str) -> None:
    from borghive.store.db import build_database

    configuration = make_config(tmp_path, url)
    values = login_copy.login_settings(configuration)
    database = build_database(configuration.store)

    login = query.postgres_parameters(login_settings.Settings.from_mapping(values))
    store = {"dbname": database.database, **database.connect_params}
    for keyword in ("dbname", "host", "port", "user", "connect_timeout", "client_encoding"):
        assert login.get(keyword) == store.get(keyword), keyword
    assert login["options"] == (
        "-c default_transaction_read_only=on -c statement_timeout=30000"  # busy_timeout
    )
    assert "options" not in store


def test_login_settings_refuse_a_bad_port(tmp_path: Path) -> None:
    for url in ("postgresql://host:99999/db", "postgresql://host:port/db"):
        configuration = make_config(tmp_path, url)
        with pytest.raises(ConfigError, match="port"):
            login_copy.login_settings(configuration)


def test_sqlite_settings_have_no_address(tmp_path: Path) -> None:
    values = login_copy.login_settings(make_config(tmp_path, f"sqlite:///{tmp_path}/b.db"))

    assert [values[f"store_{part}"] for part in ("host", "port", "dbname", "user")] == [None] * 4


@pytest.mark.parametrize(
    "change",
    [
        {"store_host": "db\0host"},
        {"store_dbname": 5},
        {"store_user": b"postgres"},
        {"store_port": "5432"},
        {"store_port": 0},
        {"store_port": 65536},
        {"store_port": True},
        {"store_password_file": "/etc/borghive/pw\0"},
    ],
)
def test_settings_refuse_what_libpq_cannot_take(tmp_path: Path, change: dict[str, object]) -> None:
    values = login_copy.login_settings(make_config(tmp_path, "postgresql://postgres@db/borghive"))
    values.update(change)  # type: ignore[arg-type] - deliberately wrong types

    with pytest.raises(ValueError, match="store"):
        login_settings.Settings.from_mapping(values)


def test_connection_parameters(tmp_path: Path) -> None:
    password_file = tmp_path / "password"
    password_file.write_text("  s3cret \n")
    values = login_copy.login_settings(make_config(tmp_path, "postgresql://back%40up@db:6432/hive"))
    with_password = {**values, "store_password_file": str(password_file), "connect_timeout": 2.5}
    local = login_copy.login_settings(make_config(tmp_path, "postgresql:///"))

    assert query.postgres_parameters(login_settings.Settings.from_mapping(with_password)) == {
        "host": "db",
        "port": "6432",
        "dbname": "hive",
        "user": "back@up",
        "password": "s3cret",
        "connect_timeout": "2",
        "options": "-c default_transaction_read_only=on -c statement_timeout=30000",
        "application_name": "borghive-authkeys",
        "client_encoding": "UTF8",
    }
    # no host or user: left to libpq (local socket, the login name), not sent empty
    assert set(query.postgres_parameters(login_settings.Settings.from_mapping(local))) == {
        "port", "dbname", "connect_timeout", "options", "application_name", "client_encoding"
    }  # fmt: skip
