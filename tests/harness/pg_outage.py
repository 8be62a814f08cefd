"""A PostgreSQL server that can be stopped and started again on the same port and data
(the store going away under a running daemon, and coming back): fixture
``restartable_postgres``, a :class:`~tests.harness.postgres.PostgresCluster` with its
database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.environment import missing_service
from tests.harness.postgres import PostgresCluster, PostgresServer, postgres_bindir


class RestartablePostgres:
    """A started cluster and its ``borghive`` database (``server``); :meth:`stop` and
    :meth:`start` as often as wanted, :meth:`close` at the end."""

    def __init__(self, bindir: Path) -> None:
        self.cluster = PostgresCluster(bindir)
        self.cluster.start()
        self.port = self.cluster.port
        self.server: PostgresServer = self.cluster.server("borghive")

    def start(self) -> None:
        self.cluster.start()

    def stop(self) -> None:
        """Fast shutdown (clients are disconnected), waited for."""
        self.cluster.stop()

    def close(self) -> None:
        self.cluster.remove()


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
