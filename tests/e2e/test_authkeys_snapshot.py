"""The installed ``borghive authkeys`` on a PostgreSQL store, as sshd runs it: it answers from
this host's login snapshot only. A revocation by an admin command on this host is in force
at the next login (the command rebuilds the snapshot); a repository placed on another host
gets nothing (exit 0); logins go on while PostgreSQL is stopped; a missing snapshot, or one
older than hosts.snapshot_trust, is refused with one syslog line naming it and its age."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from borghive.config import Config
from tests.harness.authkeys import (
    add_key,
    assert_answer,
    assert_one_refusal_line,
    borg_line,
    create_repository,
    run_authkeys,
    run_with_devlog,
    tamper,
)
from tests.harness.config import config_toml, make_config, migrate
from tests.harness.environment import BORGHIVE
from tests.harness.keys import PublicKey
from tests.harness.pg_outage import RestartablePostgres

pytestmark = [pytest.mark.e2e, pytest.mark.pg]
PG = [pytest.param("pg", marks=pytest.mark.pg)]


@pytest.fixture
def photos(alice: Config, public_keys: list[PublicKey]) -> tuple[str, str]:
    """alice/photos opened by her laptop key: the repository user and the expected line."""
    add_key("alice", public_keys[0], "laptop")
    repo_user = create_repository(alice, "alice/photos", full=("laptop",))
    return repo_user, borg_line(alice, repo_user, "photos", public_keys[0], "laptop")


def borghive(
    config_file: Path, *arguments: str, **environ: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BORGHIVE_")}
    return subprocess.run(
        [str(BORGHIVE), "--config", str(config_file), *arguments],
        capture_output=True,
        text=True,
        check=False,
        env={**env, **environ},
    )


@pytest.mark.parametrize("backend", PG)
def test_a_revocation_here_is_in_force_at_the_next_login(
    photos: tuple[str, str], config_file: Path
) -> None:
    repo_user, expected = photos
    assert_answer(run_authkeys(config_file, repo_user), expected)

    result = borghive(config_file, "repo", "revoke", "alice/photos", "laptop")

    assert (result.returncode, result.stderr) == (0, "")
    # no rebuild by the test or a daemon: the command itself rebuilt the snapshot
    assert_answer(run_authkeys(config_file, repo_user, refresh=False), "")


@pytest.mark.parametrize("backend", PG)
def test_a_failed_refresh_is_one_warning_and_changes_no_exit_status(
    photos: tuple[str, str], config_file: Path, tmp_path: Path
) -> None:
    target = tmp_path / "no-such-directory" / "login.snapshot"

    result = borghive(
        config_file, "repo", "revoke", "alice/photos", "laptop", BORGHIVE_HOSTS_SNAPSHOT=str(target)
    )

    assert result.returncode == 0
    (warning,) = result.stderr.splitlines()
    assert warning.startswith(f"borghive: warning: login snapshot {target} not refreshed: ")
    assert not target.parent.exists()


@pytest.mark.parametrize("backend", PG)
def test_a_repository_on_another_host_gets_nothing(
    photos: tuple[str, str], config_file: Path, public_keys: list[PublicKey]
) -> None:
    repo_user, _ = photos
    tamper("UPDATE repository SET host = {p} WHERE repo_user = {p}", "b.example.org", repo_user)

    assert_answer(run_authkeys(config_file, repo_user), "")
    assert_answer(
        run_authkeys(config_file, repo_user, public_keys[0].key_type, public_keys[0].blob), ""
    )


@pytest.mark.parametrize("backend", PG)
def test_missing_or_stale_snapshot_is_refused_with_one_line(
    photos: tuple[str, str], config_file: Path, tmp_path: Path
) -> None:
    repo_user, expected = photos
    snapshot = Path(f"{config_file}.snapshot")
    assert_answer(run_authkeys(config_file, repo_user), expected)

    hours_ago = time.time() - 2 * 3600
    os.utime(snapshot, (hours_ago, hours_ago))
    stale = run_with_devlog(tmp_path / "stale.json", config_file, repo_user, refresh=False)
    assert_one_refusal_line(stale, f"login snapshot {snapshot} was last confirmed current 72")
    assert "trusted for 3600s" in stale.datagrams[0]

    snapshot.unlink()
    missing = run_with_devlog(tmp_path / "missing.json", config_file, repo_user, refresh=False)
    assert_one_refusal_line(missing, f"login snapshot {snapshot}: No such file or directory")


def test_logins_go_on_while_postgresql_is_stopped(
    tmp_path: Path, restartable_postgres: RestartablePostgres, public_keys: list[PublicKey]
) -> None:
    config = migrate(make_config(tmp_path, restartable_postgres.server.url))
    config_file = tmp_path / "borghive.toml"
    config_file.write_text(config_toml(config))
    assert borghive(config_file, "user", "add", "alice").returncode == 0
    key_file = tmp_path / "laptop.pub"
    key_file.write_text(public_keys[0].text + "\n")
    assert (
        borghive(config_file, "key", "add", "alice", str(key_file), "--name", "laptop").returncode
        == 0
    )
    created = borghive(config_file, "repo", "create", "alice/photos", "--key", "laptop", "--json")
    assert created.returncode == 0, created.stderr
    repo_user = json.loads(created.stdout)["repository"]["repo_user"]
    expected = borg_line(config, repo_user, "photos", public_keys[0], "laptop")
    # the snapshot as the admin commands left it (no daemon here)
    assert_answer(run_authkeys(config_file, repo_user, refresh=False), expected)

    restartable_postgres.stop()

    assert_answer(run_authkeys(config_file, repo_user, refresh=False), expected)
    listing = borghive(config_file, "repo", "list")
    assert listing.returncode == 75, listing.stderr


BUILDER = """
import sys
from borghive.config_load import load_config
from borghive.service.hosts.snapshot import refresh_snapshot
from borghive.store import open_store

config = load_config(sys.argv[1], {})
with open_store(config.store):
    print("ready", flush=True)
    while True:
        refresh_snapshot(config)
"""


@pytest.mark.parametrize("backend", PG)
def test_a_builder_killed_at_any_moment_leaves_a_whole_snapshot(
    photos: tuple[str, str], config_file: Path
) -> None:
    """SIGKILL of a process rebuilding the snapshot over and over, at 12 moments: authkeys
    always reads a whole snapshot (the old or the new one), and what a killed builder left
    behind is removed by a later build once it is old."""
    import signal
    import sys

    repo_user, expected = photos
    snapshot = Path(f"{config_file}.snapshot")
    assert_answer(run_authkeys(config_file, repo_user), expected)
    for moment in range(12):
        builder = subprocess.Popen(
            [sys.executable, "-c", BUILDER, str(config_file)],
            stdout=subprocess.PIPE,
            env={k: v for k, v in os.environ.items() if not k.startswith("BORGHIVE_")},
        )
        assert builder.stdout is not None and builder.stdout.readline() == b"ready\n"
        time.sleep(moment * 0.004)  # 0 to 44 ms into the loop of builds
        builder.send_signal(signal.SIGKILL)
        builder.wait()
        assert_answer(run_authkeys(config_file, repo_user, refresh=False), expected)
    leftovers = list(config_file.parent.glob(f".{snapshot.name}.*.tmp"))
    print(f"{len(leftovers)} of 12 builders were killed while writing")
    old = time.time() - 3600
    for leftover in leftovers:
        os.utime(leftover, (old, old))
    run_authkeys(config_file, repo_user)  # rebuilds in this process
    assert list(config_file.parent.glob(f".{snapshot.name}.*.tmp")) == []
