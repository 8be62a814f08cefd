"""A PostgreSQL server that can be stopped and started again on the same port and data
(the store going away under a running daemon, and coming back): fixture
``restartable_postgres``. Built from tests/harness/postgres.py's pieces."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.environment import missing_service
from tests.harness.net import free_port, wait_for_port
from tests.harness.postgres import PostgresServer, _as_postgres_user, postgres_bindir


class RestartablePostgres:
    """initdb once; :meth:`start` and :meth:`stop` (by process group) as often as wanted."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.datadir = Path(tempfile.mkdtemp(prefix="borghive-pg-outage-"))
        if os.geteuid() == 0:
            shutil.chown(self.datadir, "postgres", "postgres")
        subprocess.run(
            [*_as_postgres_user(), str(bindir / "initdb"), "-D", str(self.datadir),
             "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
            check=True, capture_output=True,
        )  # fmt: skip
        self.port = free_port()
        self.server = PostgresServer(
            self.port, f"postgresql://postgres@127.0.0.1:{self.port}/postgres", "borghive"
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.start()
        self.server.psql("CREATE DATABASE borghive")

    def start(self) -> None:
        self.process = subprocess.Popen(
            [*_as_postgres_user(), str(self.bindir / "postgres"), "-D", str(self.datadir),
             "-p", str(self.port), "-c", "listen_addresses=127.0.0.1",
             "-c", f"unix_socket_directories={self.datadir}", "-c", "fsync=off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        wait_for_port(self.port)
        for attempt in range(50):  # the port answers slightly before connections do
            try:
                self.server.psql("SELECT 1")
                return
            except Exception:
                if attempt == 49:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        """Stop the server (fast shutdown: clients are disconnected) and wait for it."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.datadir, ignore_errors=True)


@pytest.fixture
def restartable_postgres() -> Iterator[RestartablePostgres]:
    bindir = postgres_bindir()
    if bindir is None:
        missing_service("PostgreSQL server binaries not found (apt-get install postgresql)")
    assert bindir is not None
    server = RestartablePostgres(bindir)
    try:
        yield server
    finally:
        server.close()
