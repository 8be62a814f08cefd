"""Shared fixtures: configurations on a temporary SQLite file or a real PostgreSQL server.

The PostgreSQL server is started once per session on 127.0.0.1 at a free port with a
temporary data directory (unless ``BORGHIVE_TEST_PG_URL`` names one to reuse), a database
is created for the session and dropped after, and each test gets an empty schema. Without
PostgreSQL the ``pg`` tests skip locally; under ``CI=true`` they fail instead.
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
from support import config_toml, free_port, make_config, missing_service, wait_for_port

from borghive.config import Config


def _postgres_bindir() -> Path | None:
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
    bindir = _postgres_bindir()
    if bindir is None:
        missing_service("PostgreSQL server binaries not found (apt-get install postgresql)")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        missing_service("psycopg2 not installed (pip install 'borghive[postgres]')")
    assert bindir is not None
    datadir = Path(tempfile.mkdtemp(prefix="borghive-pg-"))
    if os.geteuid() == 0:
        shutil.chown(datadir, "postgres", "postgres")
    prefix = _as_postgres_user()
    subprocess.run(
        [
            *prefix,
            str(bindir / "initdb"),
            "-D",
            str(datadir),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    log = open(datadir.parent / f"{datadir.name}.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [
            *prefix,
            str(bindir / "postgres"),
            "-D",
            str(datadir),
            "-p",
            str(port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"unix_socket_directories={datadir}",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_port(port)
        server = PostgresServer(
            port, f"postgresql://postgres@127.0.0.1:{port}/postgres", f"borghive_test_{port}"
        )
        for _ in range(50):  # the port answers slightly before connections are accepted
            try:
                server.psql(f"CREATE DATABASE {server.database}")
                break
            except Exception:  # noqa: BLE001 - retried until the server is ready
                time.sleep(0.1)
        yield server
        with contextlib.suppress(Exception):
            server.psql(f"DROP DATABASE IF EXISTS {server.database} WITH (FORCE)")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
        shutil.rmtree(datadir, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(datadir.parent / f"{datadir.name}.log")


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def backend(request: pytest.FixtureRequest) -> str:
    """The store back end of a test: every store test runs on SQLite and on PostgreSQL."""
    return str(request.param)


@pytest.fixture
def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """An empty store of the chosen back end (no schema yet)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path}/borghive.db"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    server.psql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;", database=server.database)
    return server.url


@pytest.fixture
def config(tmp_path: Path, store_url: str) -> Config:
    """A configuration on an empty store (not migrated)."""
    return make_config(tmp_path, store_url)


@pytest.fixture
def config_file(tmp_path: Path, config: Config) -> Path:
    """The test configuration written to a TOML file."""
    path = tmp_path / "borghive.toml"
    path.write_text(config_toml(config))
    return path


@pytest.fixture
def migrated(config: Config) -> Config:
    """The test configuration on a migrated, empty store."""
    from borghive.store import open_store
    from borghive.store.migrations import apply_migrations

    with open_store(config.store, check_schema=False, create=True) as db:
        apply_migrations(db)
    return config


@pytest.fixture
def store(migrated: Config) -> Iterator[Config]:
    """A migrated store, open and bound to the models for the test's duration."""
    from borghive.store import open_store

    with open_store(migrated.store):
        yield migrated
