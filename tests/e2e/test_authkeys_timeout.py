"""sshd has no timeout of its own for the AuthorizedKeysCommand: ``borghive authkeys`` must
give up by itself when the store blocks, even inside a driver call, log why, and leave no
process behind. The whole run, wrapper included, ends before its 5-second limit whatever
the store does (configured timeouts of 30 s included): the store's own timeouts are cut to
what the run has left and refuse with the store's reason; the watchdog ends what no
timeout covers.

Each blocked run is timed from before the wrapper starts to after it was reaped, so the
figures include the wrapper's start-up; they are printed (pytest -s) as measured."""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from borghive.config import Config
from borghive.login.authkeys import TIMEOUT_SECONDS
from tests.harness.authkeys import (
    LoggedRun,
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


def _slow_config(tmp_path: Path, store_url: str, **store: str) -> Path:
    """A configuration file whose store timeouts are far beyond the run's limit."""
    configuration = make_config(tmp_path, store_url)
    extra = "".join(f"{key} = {value}\n" for key, value in store.items())
    text = config_toml(configuration).replace(
        "[repos]\n", f"connect_timeout = 30.0\n{extra}[repos]\n"
    )
    path = tmp_path / "borghive.toml"
    path.write_text(text)
    return path


def _refused_in_time(result: LoggedRun, reason: str, what: str) -> None:
    print(f"{what}: refused after {result.elapsed:.2f}s")
    assert_one_refusal_line(result, reason)
    assert result.elapsed < TIMEOUT_SECONDS, result.elapsed
    assert not result.left_behind


def test_blocked_store_is_refused_with_its_reason_within_the_limit(
    backend: str,
    alice: Config,
    public_keys: list[PublicKey],
    config_file: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """SQLite's busy wait and PostgreSQL's wait for a table lock (busy_timeout 30 s) end
    before the limit, so the refusal names the lock, not the watchdog."""
    assert alice.store.busy_timeout > TIMEOUT_SECONDS + 2  # SQLite alone would wait longer
    add_key("alice", public_keys[0], "laptop")
    repo_user = create_repository(alice, "alice/photos", full=("laptop",))
    port = None if backend == "sqlite" else request.getfixturevalue("postgres_server").port

    with _store_locked(alice, port):
        result = run_with_devlog(tmp_path / "devlog.json", config_file, repo_user)

    reason = "database is locked" if backend == "sqlite" else "canceling statement"
    _refused_in_time(result, reason, f"{backend} store locked")
    assert result.elapsed > TIMEOUT_SECONDS - 2  # it did wait for the lock


def test_silent_server_is_refused_within_the_limit(tmp_path: Path) -> None:
    """A server that accepts TCP and never answers keeps libpq waiting inside
    PQconnectdbParams; connect_timeout (30 s here) is cut to what the run has left."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        config_file = _slow_config(tmp_path, f"postgresql://postgres@127.0.0.1:{port}/db")
        result = run_with_devlog(tmp_path / "devlog.json", config_file, "rabcdefg")
    _refused_in_time(result, "timeout expired", "silent PostgreSQL port")


@contextlib.contextmanager
def _blackholed_port() -> Iterator[int]:
    """A port whose SYNs go unanswered: a listener with a full accept queue (backlog 0, one
    connection waiting, never accepted) drops further SYNs, as a firewall's DROP would."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5) as first:
            probe = socket.socket()
            probe.settimeout(0.5)
            try:
                with pytest.raises(TimeoutError):  # the port really is a black hole now
                    probe.connect(("127.0.0.1", port))
            finally:
                probe.close()
            yield port
            first.close()


def test_blackholed_port_is_refused_within_the_limit(tmp_path: Path) -> None:
    """No answer to the connection attempt at all, with the default connect_timeout (5 s,
    the same as the limit) and with 30 s."""
    with _blackholed_port() as port:
        url = f"postgresql://postgres@127.0.0.1:{port}/db"
        default = make_config(tmp_path, url)
        assert default.store.connect_timeout == TIMEOUT_SECONDS
        default_file = tmp_path / "default.toml"
        default_file.write_text(config_toml(default))
        for name, config_file in (("default", default_file), ("30s", _slow_config(tmp_path, url))):
            result = run_with_devlog(tmp_path / f"devlog-{name}.json", config_file, "rabcdefg")
            _refused_in_time(result, "timeout expired", f"blackholed port, connect_timeout {name}")


def test_what_no_timeout_covers_ends_by_the_watchdog_within_the_limit(
    tmp_path: Path,
) -> None:
    """A SQLite store that is a FIFO nobody writes: SQLite's open() blocks in the kernel,
    where no store timeout reaches. The watchdog refuses before the limit, every time."""
    fifo = tmp_path / "store.db"
    os.mkfifo(fifo, 0o600)
    config_file = _slow_config(tmp_path, f"sqlite:///{fifo}")
    for attempt in range(3):
        result = run_with_devlog(tmp_path / f"devlog-{attempt}.json", config_file, "rabcdefg")
        _refused_in_time(result, f"timed out (limit {TIMEOUT_SECONDS}s); refusing", "watchdog")
        assert result.elapsed > TIMEOUT_SECONDS - 1.5  # the watchdog's, not an early error


def test_a_password_file_that_is_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    """A FIFO named as the password file is refused before any wait (it used to block the
    login until the watchdog fired)."""
    fifo = tmp_path / "password"
    os.mkfifo(fifo, 0o600)
    config_file = _slow_config(
        tmp_path, "postgresql://postgres@127.0.0.1:1/db", password_file=f'"{fifo}"'
    )
    result = run_with_devlog(tmp_path / "devlog.json", config_file, "rabcdefg")
    _refused_in_time(result, "is not a regular file", "password FIFO")
    assert result.elapsed < 2.0
