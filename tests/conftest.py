"""Shared fixtures: configurations on a temporary SQLite file or a real PostgreSQL server.

Each store test runs on both back ends through the parametrised ``backend`` fixture; the
PostgreSQL server is the session's throwaway one (``tests/harness/postgres.py``), and each
test gets an empty schema. The harness's fixtures are registered here for every test
directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from borghive.config import Config
from tests.harness.config import config_toml, make_config, migrate
from tests.harness.environment import IN_CI
from tests.harness.postgres import PostgresServer

# Under CI=true every property test draws the same examples each run: a counterexample is
# found while developing (random draws, the default), never as a flake of a later commit.
settings.register_profile("ci", derandomize=True, deadline=None)
if IN_CI:
    settings.load_profile("ci")

pytest_plugins = [
    "tests.harness.environment",
    "tests.harness.postgres",
    "tests.harness.slapd",
    "tests.harness.keys",
    "tests.harness.authkeys",
    "tests.harness.alerts",
    "tests.harness.borg",
    "tests.harness.maintenance",
    "tests.harness.doctor",
    "tests.harness.local_accounts",
    "tests.harness.watch",
    "tests.harness.pings",
    "tests.harness.pg_outage",
]


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
    return migrate(config)


@pytest.fixture
def store(migrated: Config) -> Iterator[Config]:
    """A migrated store, open and bound to the models for the test's duration."""
    from borghive.store import open_store

    with open_store(migrated.store):
        yield migrated
