"""A throwaway PostgreSQL server on 127.0.0.1 at a free port with a temporary data
directory, stopped by pid: used by the test suite's fixture and by the benchmarks.

The session fixture ``postgres_server`` starts one for the whole test run (unless
``BORGHIVE_TEST_PG_URL`` names one to reuse) with a database created for the session and
dropped after. Without PostgreSQL the ``pg`` tests skip locally; under ``CI=true`` they
fail instead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
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


def postgres_bindir() -> Path | None:
    """Where Debian's (or any) PostgreSQL server binaries are, or None."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    found = shutil.which("postgres")
    return Path(found).parent if found else None


@dataclasses.dataclass
class PostgresServer:
    port: int
    admin_url: str
    database: str

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    def psql(self, sql: str, database: str = "postgres") -> None:
        import psycopg2

        connection = psycopg2.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=database
        )
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
        finally:
            connection.close()


def _as_postgres_user() -> list[str]:
    """Prefix to run PostgreSQL's programs as the ``postgres`` user when we are root."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


class PostgresCluster:
    """One throwaway PostgreSQL cluster: ``initdb`` once into a temporary data directory,
    then ``start()``/``stop()`` as often as a test needs (the same port and data each time,
    e.g. to see what borghive does while the store is away), ``remove()`` at the end.
    fsync is off: the data is throwaway."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.datadir = Path(tempfile.mkdtemp(prefix="borghive-pg-"))
        self.log_path = self.datadir.parent / f"{self.datadir.name}.log"
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        if os.geteuid() == 0:
            shutil.chown(self.datadir, "postgres", "postgres")
        subprocess.run(
            [*_as_postgres_user(), str(bindir / "initdb"), "-D", str(self.datadir),
             "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
            check=True, capture_output=True,
        )  # fmt: skip

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server on its port and wait until it accepts connections."""
        if self.running:
            return
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [*_as_postgres_user(), str(self.bindir / "postgres"), "-D", str(self.datadir),
                 "-p", str(self.port), "-c", "listen_addresses=127.0.0.1",
                 "-c", f"unix_socket_directories={self.datadir}",
                 "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off", "-c", "max_connections=200"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        wait_for_port(self.port)

    def stop(self) -> None:
        """Stop the server by pid (SIGTERM: PostgreSQL's smart shutdown ends the sessions'
        connections too, so clients see the store go away) and wait for it."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def remove(self) -> None:
        """Stop the server and remove its data directory and log."""
        self.stop()
        shutil.rmtree(self.datadir, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            self.log_path.unlink()

    def server(self, database: str) -> PostgresServer:
        """``database`` on this cluster, created (waiting for the first connections)."""
        server = PostgresServer(
            self.port, f"postgresql://postgres@127.0.0.1:{self.port}/postgres", database
        )
        for attempt in range(50):  # the port answers slightly before connections do
            try:
                server.psql(f"CREATE DATABASE {server.database}")
                break
            except Exception:
                if attempt == 49:
                    raise
                time.sleep(0.1)
        return server


@contextlib.contextmanager
def running_postgres(bindir: Path, database: str | None = None) -> Iterator[PostgresServer]:
    """initdb, start (fsync off: throwaway data), create ``database``, yield, stop by pid,
    remove everything."""
    cluster = PostgresCluster(bindir)
    try:
        cluster.start()
        server = cluster.server(database or f"borghive_test_{cluster.port}")
        yield server
        with contextlib.suppress(Exception):
            server.psql(f"DROP DATABASE IF EXISTS {server.database} WITH (FORCE)")
    finally:
        cluster.remove()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    reused = os.environ.get("BORGHIVE_TEST_PG_URL")
    if reused:
        from urllib.parse import urlsplit

        parts = urlsplit(reused)
        server = PostgresServer(parts.port or 5432, reused, f"borghive_test_{os.getpid()}")
        server.psql(f"CREATE DATABASE {server.database}")
        yield server
        server.psql(f"DROP DATABASE IF EXISTS {server.database}")
        return
    bindir = postgres_bindir()
    if bindir is None:
        missing_service("PostgreSQL server binaries not found (apt-get install postgresql)")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        missing_service("psycopg2 not installed (pip install 'borghive[postgres]')")
    with running_postgres(bindir) as server:
        yield server
