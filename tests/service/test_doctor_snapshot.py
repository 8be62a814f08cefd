"""doctor's ``login snapshot`` line: not needed on SQLite; on PostgreSQL it fails when the
snapshot is missing, unreadable by sshd's command user or older than hosts.snapshot_trust,
warns when it was not confirmed for a minute or the store holds a refresh problem."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from borghive.config import Config
from borghive.config_load import load_config
from borghive.service.doctor.snapshot import check_login_snapshot
from borghive.service.hosts.snapshot import refresh_snapshot
from borghive.store import execute
from tests.harness.doctor import USER

PG = [pytest.param("pg", marks=pytest.mark.pg)]


def test_not_needed_on_sqlite(tmp_path: Path) -> None:
    check = check_login_snapshot(Config(), USER)
    assert (check.status, check.detail) == (
        "ok",
        "not needed (SQLite store: authkeys reads the store itself)",
    )


@pytest.mark.parametrize("backend", PG)
def test_the_snapshot_s_state(store: Config, config_file: Path, trusted_dir: Path) -> None:
    # in a directory sshd's command user can reach (pytest's own is closed to others)
    snapshot = trusted_dir / "login.snapshot"
    config = load_config(config_file, {"BORGHIVE_HOSTS_SNAPSHOT": str(snapshot)})
    missing = check_login_snapshot(config, USER)
    assert missing.status == "FAIL" and f"{snapshot} does not exist" in missing.detail

    refresh_snapshot(config)
    good = check_login_snapshot(config, USER)
    assert good.status == "ok", good.detail
    assert "confirmed current 0s ago (trusted for 3600s)" in good.detail

    snapshot.chmod(0o600)
    unreadable = check_login_snapshot(config, USER)
    assert unreadable.status == "FAIL" and f"{USER} cannot read {snapshot}" in unreadable.detail
    snapshot.chmod(0o644)

    old = time.time() - 120
    os.utime(snapshot, (old, old))
    late = check_login_snapshot(config, USER)
    assert late.status == "warn" and "is borghive watch running" in late.detail

    older = time.time() - 3700
    os.utime(snapshot, (older, older))
    stale = check_login_snapshot(config, USER)
    assert stale.status == "FAIL" and "longer than hosts.snapshot_trust (3600s)" in stale.detail

    os.utime(snapshot)
    execute(
        "UPDATE storage_host SET snapshot_problem = %s WHERE name = %s",
        ("No space left on device", config.repos.public_host),
    )
    problem = check_login_snapshot(config, USER)
    assert problem.status == "warn"
    assert "last refresh problem: No space left on device" in problem.detail
