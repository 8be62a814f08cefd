"""sshd has no timeout of its own for the AuthorizedKeysCommand: ``borghive authkeys`` must
give up by itself when the store blocks, even inside a driver call, log why, and leave no
process behind."""

from __future__ import annotations

import contextlib
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from borghive.config import Config
from borghive.login import authkeys
from borghive.login.authkeys import TIMEOUT_SECONDS
from tests.harness.authkeys import (
    add_key,
    assert_one_refusal_line,
    create_repository,
    run_with_devlog,
)
from tests.harness.config import config_toml, make_config
from tests.harness.keys import PublicKey

pytestmark = pytest.mark.e2e


@contextlib.contextmanager
def _store_locked(config: Config, postgres_port: int | None) -> Iterator[None]:
    """Hold a lock that blocks every reader of the store: SQLite ``BEGIN EXCLUSIVE``, or a
    PostgreSQL ``ACCESS EXCLUSIVE`` table lock."""
    if postgres_port is None:
        connection = sqlite3.connect(config.store.url.removeprefix("sqlite://"))
        connection.isolation_level = None
        connection.execute("BEGIN EXCLUSIVE")
    else:
        import psycopg2

        connection = psycopg2.connect(
            host="127.0.0.1",
            port=postgres_port,
            user="postgres",
            dbname=urlsplit(config.store.url).path[1:],
        )
        connection.cursor().execute("LOCK TABLE repository IN ACCESS EXCLUSIVE MODE")
    try:
        yield
    finally:
        connection.rollback()
        connection.close()


def test_blocked_store_times_out(
    backend: str,
    alice: Config,
    public_keys: list[PublicKey],
    config_file: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    assert alice.store.busy_timeout > TIMEOUT_SECONDS + 2  # SQLite alone would wait longer
    add_key("alice", public_keys[0], "laptop")
    repo_user = create_repository(alice, "alice/photos", full=("laptop",))
    port = None if backend == "sqlite" else request.getfixturevalue("postgres_server").port

    with _store_locked(alice, port):
        result = run_with_devlog(tmp_path / "devlog.json", config_file, repo_user)

    assert_one_refusal_line(result, f"timed out after {TIMEOUT_SECONDS}s; refusing")
    assert TIMEOUT_SECONDS - 0.5 < result.elapsed < TIMEOUT_SECONDS + 2
    assert not result.left_behind


def test_blocked_connect_times_out(tmp_path: Path) -> None:
    """A server that accepts TCP and never answers keeps libpq waiting inside
    PQconnectdbParams (connect_timeout is 30 s here): the watchdog ends it after 5 s."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        configuration = make_config(tmp_path, f"postgresql://postgres@127.0.0.1:{port}/db")
        config_file = tmp_path / "borghive.toml"
        text = config_toml(configuration).replace("[repos]\n", "connect_timeout = 30.0\n[repos]\n")
        config_file.write_text(text)

        result = run_with_devlog(tmp_path / "devlog.json", config_file, "rabcdefg")

    seconds = authkeys.TIMEOUT_SECONDS
    assert_one_refusal_line(result, f"timed out after {seconds}s; refusing")
    assert seconds - 0.5 < result.elapsed < seconds + 2
    assert not result.left_behind
