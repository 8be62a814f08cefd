"""The login snapshot: what this host's logins need, copied from a PostgreSQL store into a
local read-only SQLite file that ``authkeys`` reads (placeholder: being built)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from borghive.config import Config


@dataclass(frozen=True)
class SnapshotResult:
    """A rebuilt snapshot: its file, how many repositories and grants it holds, and the
    seconds the rebuild took."""

    path: Path
    repositories: int
    grants: int
    seconds: float


def refresh_snapshot(config: Config) -> SnapshotResult | None:
    """Rebuild this host's login snapshot from the store now; None on a SQLite store
    (authkeys reads the store itself there). The store must be open."""
    raise NotImplementedError
