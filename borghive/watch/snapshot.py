"""The watch daemon's login snapshot keeper, on a PostgreSQL store only: a thread with its
own psycopg2 connection (autocommit, never the models' shared database proxy) that
``LISTEN``\\ s on channel ``borghive_login`` (the store's triggers notify it at every change
logins read; the payload is the host concerned, '' for all).

- At start and after every reconnect it rebuilds the snapshot first (changes may have
  been missed while it was not listening).
- On a notification for this host or for all, it waits a moment for the rest of a burst
  (one admin command can change many rows), then rebuilds, on the same connection, in one
  repeatable-read transaction (borghive.service.hosts.snapshot.build_snapshot).
- Every ``hosts.snapshot_refresh`` it rebuilds whole anyway.
- Every few seconds it checks the connection is alive (``SELECT 1``) and then touches the
  snapshot: while the connection stayed up no notification can have been missed, so the
  snapshot is confirmed current. Cut off from the store it stops touching it, and authkeys
  refuses it once it is older than hosts.snapshot_trust.

What it knows (confirmed, problem) goes to storage_host for ``host show`` and doctor, best
effort. A problem is logged once per outage, and its end once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from borghive.config import Config
from borghive.errors import BorghiveError
from borghive.login.storeurl import connection_keywords, postgres_address
from borghive.rules.quantities import parse_duration
from borghive.service.hosts.identity import this_host
from borghive.service.hosts.snapshot import (
    RECORD_STATEMENT,
    SnapshotResult,
    build_snapshot,
    confirm_snapshot,
    record_parameters,
    snapshot_path,
)

log = logging.getLogger("borghive.watch.snapshot")

CHANNEL = "borghive_login"
# How often the connection is checked and the snapshot touched.
CONFIRM_EVERY = 5.0
# How often a confirmation is also written to the store (host show's "confirmed").
RECORD_EVERY = 60.0
# After a notification, how long to collect the rest of its burst before rebuilding.
DRAIN_SECONDS = 0.05
# Reconnect waits: doubling from the first to the last.
BACKOFF = (1.0, 30.0)


class SnapshotKeeper:
    """The thread keeping this host's snapshot current (see the module's docstring)."""

    def __init__(
        self,
        current: Callable[[], Config],
        *,
        confirm_every: float = CONFIRM_EVERY,
        record_every: float = RECORD_EVERY,
    ) -> None:
        self._current = current
        self._confirm_every = confirm_every
        self._record_every = record_every
        self._stopping = threading.Event()
        self._wake_read, self._wake_write = os.pipe()
        self._thread = threading.Thread(target=self._run, name="login-snapshot", daemon=True)
        self._outage: str | None = None
        self.rebuilds = 0

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to end and wait up to ``timeout`` seconds for it."""
        self._stopping.set()
        os.write(self._wake_write, b"x")
        self._thread.join(timeout)
        if not self._thread.is_alive():
            os.close(self._wake_read)
            os.close(self._wake_write)

    # -- the loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        wait = BACKOFF[0]
        while not self._stopping.is_set():
            connection: Any = None
            try:
                connection = self._connect()
                self._rebuild(connection)
                self._recovered()
                wait = BACKOFF[0]
                self._serve(connection)
            except Exception as exc:  # noqa: BLE001 - any failure: report, reconnect, retry
                self._trouble(exc, connection)
            finally:
                if connection is not None:
                    _close(connection)
            if self._stopping.wait(wait):
                return
            wait = min(wait * 2, BACKOFF[1])

    def _connect(self) -> Any:
        import psycopg2

        config = self._current()
        host, port, database, user = postgres_address(config.store.url)
        password_file = config.store.password_file
        keywords = connection_keywords(
            host,
            port,
            database,
            user,
            password_file=None if password_file is None else str(password_file),
            connect_timeout=config.store.connect_timeout,
            application_name="borghive-snapshot",
        )
        # A silent network is noticed within seconds, not after TCP's minutes of retries.
        keywords.update(
            keepalives="1", keepalives_idle="5", keepalives_interval="2", keepalives_count="3"
        )
        keywords["tcp_user_timeout"] = "10000"
        connection = psycopg2.connect(**keywords)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f"LISTEN {CHANNEL}")
        return connection

    def _serve(self, connection: Any) -> None:
        """Listen until the connection fails (raises) or the thread is asked to stop."""
        now = time.monotonic()
        next_full = now + parse_duration(self._current().hosts.snapshot_refresh)
        next_confirm = now + self._confirm_every
        next_record = now + self._record_every
        while not self._stopping.is_set():
            if not connection.notifies:
                timeout = max(0.0, min(next_full, next_confirm) - time.monotonic())
                ready, _, _ = select.select([connection, self._wake_read], [], [], timeout)
                if self._wake_read in ready:
                    return
                if ready:
                    connection.poll()
            if self._wanted(connection):
                time.sleep(DRAIN_SECONDS)
                connection.poll()
                self._wanted(connection)
                self._rebuild(connection)
                now = time.monotonic()
                next_confirm, next_record = now + self._confirm_every, now + self._record_every
                continue
            now = time.monotonic()
            if now >= next_full:
                self._rebuild(connection)
                next_full = now + parse_duration(self._current().hosts.snapshot_refresh)
                next_confirm, next_record = now + self._confirm_every, now + self._record_every
            elif now >= next_confirm:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT 1")
                    cursor.fetchall()
                path = snapshot_path(self._current())
                if path is not None:
                    confirm_snapshot(path)
                next_confirm = now + self._confirm_every
                if now >= next_record:
                    self._record(connection, confirmed=True, problem=None)
                    next_record = now + self._record_every

    def _wanted(self, connection: Any) -> bool:
        """Whether a pending notification concerns this host (all are consumed)."""
        host = this_host(self._current())
        wanted = any(note.payload in ("", host) for note in connection.notifies)
        connection.notifies.clear()
        return wanted

    def _rebuild(self, connection: Any) -> SnapshotResult:
        config = self._current()
        with connection.cursor() as cursor:

            def read(sql: str, parameters: dict[str, str]) -> list[Any]:
                cursor.execute(sql, parameters)
                return list(cursor.fetchall())

            cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                result = build_snapshot(config, read)
            finally:
                cursor.execute("ROLLBACK")  # read only: nothing to keep
        self.rebuilds += 1
        log.debug(
            "login snapshot %s: %d repositories, %d grants in %.3fs",
            result.path,
            result.repositories,
            result.grants,
            result.seconds,
        )
        self._record(connection, confirmed=True, problem=None)
        return result

    # -- what it tells --------------------------------------------------------------------

    def _record(self, connection: Any, *, confirmed: bool, problem: str | None) -> None:
        """storage_host's snapshot_confirmed / snapshot_problem for this host; best effort."""
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    RECORD_STATEMENT, record_parameters(self._current(), confirmed, problem)
                )
        except Exception as exc:  # noqa: BLE001 - telling is best effort
            log.debug("login snapshot: cannot record its state: %s", _reason(exc))

    def _trouble(self, exc: BaseException, connection: Any) -> None:
        reason = _reason(exc)
        if self._outage is None:
            path = snapshot_path(self._current())
            log.warning(
                "login snapshot %s: cannot refresh it: %s (logins go on from it until it "
                "is older than hosts.snapshot_trust)",
                path,
                reason,
            )
        self._outage = reason
        if connection is not None and not connection.closed:
            self._record(connection, confirmed=False, problem=reason)

    def _recovered(self) -> None:
        if self._outage is not None:
            log.info("login snapshot: refreshed again")
            self._outage = None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, BorghiveError):
        return exc.message
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    if isinstance(exc, sqlite3.Error):
        return f"writing the snapshot: {exc}"
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _close(connection: Any) -> None:
    # closing a broken connection may fail: there is nothing left to do about it
    with contextlib.suppress(Exception):
        connection.close()
