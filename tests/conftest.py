"""Shared fixtures: configurations on a temporary SQLite file or a real PostgreSQL server.

The PostgreSQL server is started once per session on 127.0.0.1 at a free port with a
temporary data directory (unless ``BORGHIVE_TEST_PG_URL`` names one to reuse), a database
is created for the session and dropped after, and each test gets an empty schema. Without
PostgreSQL the ``pg`` tests skip locally; under ``CI=true`` they fail instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pgserver import PostgresServer, postgres_bindir, running_postgres
from support import config_toml, make_config, missing_service

from borghive.config import Config


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
    assert bindir is not None
    with running_postgres(bindir) as server:
        yield server


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
