"""The watch daemon keeps this host's login snapshot current on a PostgreSQL store
(borghive.watch.snapshot): built at start, rebuilt within seconds of a change made by any
host's admin command (LISTEN/NOTIFY; here a service call in this process, which is not
the daemon), touched while the connection lives, kept (and still served) while the store
is stopped, rebuilt when it is back. The installed authkeys reads it as sshd runs it."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from borghive.config import Config
from borghive.service.repositories.grants import revoke_access
from borghive.service.users import people as users
from borghive.store import open_store
from tests.harness.authkeys import (
    add_key,
    assert_answer,
    borg_line,
    create_repository,
    run_authkeys,
)
from tests.harness.config import config_toml, make_config, migrate
from tests.harness.keys import PublicKey
from tests.harness.pg_outage import RestartablePostgres
from tests.harness.watch import WatchProcess, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.pg]

# The bound for a revocation to reach every host's snapshot.
REVOCATION_SECONDS = 5.0


def answer(config_file: Path, repo_user: str) -> bytes | None:
    """authkeys' output from the snapshot (None when it refuses)."""
    result = run_authkeys(config_file, repo_user, refresh=False)
    return result.stdout if result.returncode == 0 else None


@pytest.fixture
def site(
    tmp_path: Path, restartable_postgres: RestartablePostgres, public_keys: list[PublicKey]
) -> Iterator[tuple[Config, Path, str, str, WatchProcess]]:
    """A PostgreSQL store with alice's photos opened by her laptop key, its config file,
    the repository user, the expected line, and a running watch daemon."""
    config = migrate(make_config(tmp_path, restartable_postgres.server.url))
    config_file = tmp_path / "borghive.toml"
    config_file.write_text(config_toml(config))
    with open_store(config.store):
        users.add_user("alice")
        add_key("alice", public_keys[0], "laptop")
        add_key("alice", public_keys[1], "desktop")
        repo_user = create_repository(config, "alice/photos", full=("laptop", "desktop"))
    # by key name
    expected = borg_line(config, repo_user, "photos", public_keys[1], "desktop")
    expected += borg_line(config, repo_user, "photos", public_keys[0], "laptop")
    # debug logging shows each rebuild
    watcher = WatchProcess(config_file, tmp_path / "watch.log")
    try:
        yield config, config_file, repo_user, expected, watcher
    finally:
        code = watcher.stop()
        assert "Traceback" not in watcher.text(), watcher.text()
        assert code == 0, watcher.text()


def test_a_revocation_reaches_the_snapshot_within_seconds(
    site: tuple[Config, Path, str, str, WatchProcess], public_keys: list[PublicKey]
) -> None:
    config, config_file, repo_user, expected, watcher = site
    snapshot = Path(f"{config_file}.snapshot")
    wait_for(snapshot.exists, 20, "the snapshot built at start")
    assert_answer(run_authkeys(config_file, repo_user, refresh=False), expected)

    figures = []
    for key_name in ("desktop", "laptop"):
        with open_store(config.store):
            revoke_access("alice/photos", key_name)
        revoked = time.monotonic()
        wait_for(
            lambda name=key_name: (
                f" {name}\n".encode() not in (answer(config_file, repo_user) or b"")
            ),
            REVOCATION_SECONDS,
            f"revocation of {key_name} in the snapshot",
        )
        figures.append(time.monotonic() - revoked)
    print("revocation seen by authkeys after " + ", ".join(f"{s:.2f}s" for s in figures))
    assert answer(config_file, repo_user) == b""
    assert "login snapshot" in watcher.text()


def test_the_snapshot_outlives_a_stopped_store_and_is_rebuilt_after(
    site: tuple[Config, Path, str, str, WatchProcess],
    restartable_postgres: RestartablePostgres,
) -> None:
    config, config_file, repo_user, expected, watcher = site
    snapshot = Path(f"{config_file}.snapshot")
    wait_for(snapshot.exists, 20, "the snapshot built at start")

    restartable_postgres.stop()
    wait_for(lambda: "cannot refresh it" in watcher.text(), 20, "the outage logged")
    stopped_at = os.stat(snapshot).st_mtime
    # logins go on from the snapshot (within hosts.snapshot_trust)
    assert_answer(run_authkeys(config_file, repo_user, refresh=False), expected)
    time.sleep(7)  # longer than the confirmation interval: nothing confirms it now
    assert os.stat(snapshot).st_mtime == stopped_at
    assert watcher.text().count("cannot refresh it") == 1  # once per outage

    restartable_postgres.start()
    with open_store(config.store):
        revoke_access("alice/photos", "desktop")
    wait_for(lambda: "refreshed again" in watcher.text(), 40, "the snapshot rebuilt")
    wait_for(
        lambda: b" desktop\n" not in (answer(config_file, repo_user) or b" desktop\n"),
        REVOCATION_SECONDS,
        "the change made after the restart",
    )
    assert os.stat(snapshot).st_mtime > stopped_at
    with open_store(config.store):
        from borghive.store.models import StorageHost

        row = StorageHost.get(StorageHost.name == config.repos.public_host)
        assert row.snapshot_problem is None
        assert row.snapshot_confirmed is not None


def test_a_stopped_daemon_stops_confirming_and_catches_up_when_continued(
    site: tuple[Config, Path, str, str, WatchProcess],
) -> None:
    """SIGSTOP: the snapshot is no longer confirmed (its age grows toward the trust limit),
    and a revocation made meanwhile waits; SIGCONT: the notification queued for the
    daemon's connection is taken, the snapshot rebuilt and confirmed again."""
    import signal

    config, config_file, repo_user, expected, watcher = site
    snapshot = Path(f"{config_file}.snapshot")
    wait_for(snapshot.exists, 20, "the snapshot built at start")

    watcher.signal(signal.SIGSTOP)
    try:
        stopped_at = os.stat(snapshot).st_mtime
        with open_store(config.store):
            revoke_access("alice/photos", "desktop")
        time.sleep(7)  # longer than the confirmation interval
        assert os.stat(snapshot).st_mtime == stopped_at
        assert_answer(run_authkeys(config_file, repo_user, refresh=False), expected)
    finally:
        watcher.signal(signal.SIGCONT)
    continued = time.monotonic()
    wait_for(
        lambda: b" desktop\n" not in (answer(config_file, repo_user) or b" desktop\n"),
        REVOCATION_SECONDS,
        "the revocation made while stopped",
    )
    print(f"caught up {time.monotonic() - continued:.2f}s after SIGCONT")
    assert os.stat(snapshot).st_mtime > stopped_at
