"""sshd has no timeout of its own for the AuthorizedKeysCommand: ``borghive authkeys`` must
give up by itself when the store blocks, even inside a driver call, log why, and leave no
process behind. On PostgreSQL it never connects (it reads the login snapshot): a locked,
silent or unreachable server does not hold up a login at all. The whole run, wrapper
included, ends before its 5-second limit whatever the store does (configured timeouts of
30 s included): the store's own timeouts are cut to what the run has left and refuse with
the store's reason; the watchdog ends what no timeout covers.

Each blocked run is timed from before the wrapper starts to after it was reaped, so the
figures include the wrapper's start-up; they are printed (pytest -s) as measured."""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from borghive.config import Config
from borghive.login.authkeys import TIMEOUT_SECONDS
from tests.harness.authkeys import (
    LoggedRun,
    add_key,
    assert_answer,
    assert_one_refusal_line,
    borg_line,
    create_repository,
    refresh_for,
    run_authkeys,
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


@pytest.mark.parametrize("backend", ["sqlite"])
def test_blocked_store_is_refused_with_its_reason_within_the_limit(
    backend: str, alice: Config, public_keys: list[PublicKey], config_file: Path, tmp_path: Path
) -> None:
    """SQLite's busy wait (busy_timeout 30 s) ends before the limit, so the refusal names
    the lock, not the watchdog."""
    assert alice.store.busy_timeout > TIMEOUT_SECONDS + 2  # SQLite alone would wait longer
    add_key("alice", public_keys[0], "laptop")
    repo_user = create_repository(alice, "alice/photos", full=("laptop",))

    with _store_locked(alice, None):
        result = run_with_devlog(tmp_path / "devlog.json", config_file, repo_user)

    _refused_in_time(result, "database is locked", "sqlite store locked")
    assert result.elapsed > TIMEOUT_SECONDS - 2  # it did wait for the lock


@pytest.mark.parametrize("backend", [pytest.param("pg", marks=pytest.mark.pg)])
def test_a_locked_postgresql_does_not_hold_up_logins(
    backend: str,
    alice: Config,
    public_keys: list[PublicKey],
    config_file: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """The lock that made authkeys wait for PostgreSQL's statement timeout changes nothing
    now: the answer comes from the login snapshot, at once."""
    add_key("alice", public_keys[0], "laptop")
    repo_user = create_repository(alice, "alice/photos", full=("laptop",))
    refresh_for(config_file)
    expected = borg_line(alice, repo_user, "photos", public_keys[0], "laptop")

    with _store_locked(alice, request.getfixturevalue("postgres_server").port):
        started = time.monotonic()
        result = run_authkeys(config_file, repo_user, refresh=False)
        elapsed = time.monotonic() - started

    print(f"PostgreSQL locked: answered from the snapshot in {elapsed:.2f}s")
    assert_answer(result, expected)
    assert elapsed < 2.0


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


def test_silent_or_blackholed_postgresql_without_a_snapshot_is_refused_at_once(
    tmp_path: Path,
) -> None:
    """No snapshot beside the configuration: refused at once, naming the snapshot, whatever
    the server does (a silent listener, a black hole), with connect_timeout 30 s."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        config_file = _slow_config(tmp_path, f"postgresql://postgres@127.0.0.1:{port}/db")
        result = run_with_devlog(tmp_path / "devlog.json", config_file, "rabcdefg")
    _refused_in_time(result, f"login snapshot {config_file}.snapshot", "silent PostgreSQL")
    assert result.elapsed < 2.0
    with _blackholed_port() as port:
        config_file = _slow_config(tmp_path, f"postgresql://postgres@127.0.0.1:{port}/db")
        result = run_with_devlog(tmp_path / "devlog-2.json", config_file, "rabcdefg")
    _refused_in_time(result, f"login snapshot {config_file}.snapshot", "blackholed PostgreSQL")
    assert result.elapsed < 2.0


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


def test_a_password_file_that_is_a_fifo_is_never_opened(tmp_path: Path) -> None:
    """A FIFO named as the password file (it used to block the login until the watchdog
    fired) is not even opened now: authkeys never connects to PostgreSQL."""
    fifo = tmp_path / "password"
    os.mkfifo(fifo, 0o600)
    config_file = _slow_config(
        tmp_path, "postgresql://postgres@127.0.0.1:1/db", password_file=f'"{fifo}"'
    )
    result = run_with_devlog(tmp_path / "devlog.json", config_file, "rabcdefg")
    _refused_in_time(result, "login snapshot", "password FIFO")
    assert result.elapsed < 2.0
