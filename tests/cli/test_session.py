"""``borghive session list/kill`` with real borg processes started as the repository user
with the forced command's markers: what list shows, what kill ends and records, and bad
targets refused with nothing signalled."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from borghive.config import Config
from borghive.rules.times import from_epoch
from borghive.service.repositories import lifecycle as repos
from borghive.service.repositories.backends import accounts_backend
from borghive.service.users import keys
from borghive.service.users import people as users
from borghive.sessions.locks import host_name
from borghive.sessions.procs import process_info
from borghive.store import open_store
from borghive.store.models import BorgSession, Event, MaintenanceRun, Repository, SshKey
from tests.harness.cli import Cli
from tests.harness.config import config_toml
from tests.harness.environment import public_dir, remove_tree
from tests.harness.keys import ed25519_line
from tests.harness.sessions import holding_lock, marked, own, stop

from .helpers import assert_refused

SLEEP = "/bin/sleep"


@dataclasses.dataclass
class Live:
    cli: Cli
    path: Path
    uid: int
    base: Path
    fingerprints: dict[str, str]
    processes: list[subprocess.Popen[bytes]]

    def start(self, process: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
        self.processes.append(process)
        return process

    def client(self, key: str, address: str, port: int) -> subprocess.Popen[bytes]:
        """A marked process named borg that never locks (as a client that waits)."""
        return self.start(
            marked(
                ["borg", "600"],
                self.uid,
                base=self.base,
                key=self.fingerprints[key],
                source=(address, port),
                executable=SLEEP,
            )
        )


@pytest.fixture
def live(
    migrated: Config, tmp_path: Path, make_borg_repo: Callable[[Path], Path]
) -> Iterator[Live]:
    """alice/photos (keys laptop and desktop) as a real borg repository under a root the
    repository user may enter, owned by its uid."""
    root = public_dir("borghive-cli-sessions-")
    config = dataclasses.replace(migrated, repos=dataclasses.replace(migrated.repos, root=root))
    config_file = tmp_path / "sessions.toml"
    config_file.write_text(config_toml(config))
    fingerprints = {}
    with open_store(config.store):
        users.add_user("alice")
        for name in ("laptop", "desktop"):
            info = keys.add_key("alice", ed25519_line(f"alice@{name}"), name, rsa_min_bits=3072)
            fingerprints[name] = info.fingerprint
        created = repos.create_repository(
            config, accounts_backend(config), "alice/photos", keys=["laptop"]
        ).repository
    path = make_borg_repo(Path(created.path))
    own(root / created.repo_user, created.uid_number)
    base = public_dir("borghive-cli-sessions-base-")
    site = Live(
        Cli(config_file=config_file, config=config, runner=CliRunner()),
        path,
        created.uid_number,
        base,
        fingerprints,
        [],
    )
    try:
        yield site
    finally:
        for process in site.processes:
            if process.poll() is None:
                stop(process)
        remove_tree(root)
        remove_tree(base)


def _wait(predicate: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {predicate}"
        time.sleep(0.05)


def _locked(live: Live) -> subprocess.Popen[bytes]:
    locker = live.start(
        holding_lock(
            live.path,
            live.uid,
            base=live.base,
            key=live.fingerprints["laptop"],
            source=("127.0.0.2", 40002),
        )
    )
    _wait(lambda: any((live.path / "lock.exclusive").glob("*")))
    return locker


def test_list_shows_who_is_connected_and_who_holds_the_lock(live: Live) -> None:
    locker = _locked(live)
    waiting = live.client("desktop", "127.0.0.3", 40003)
    _wait(lambda: len(live.cli.json("session", "list", "--json")) == 2)

    listed = {s["pid"]: s for s in live.cli.json("session", "list", "--json")}
    first, second = listed[locker.pid], listed[waiting.pid]
    assert (first["repository"], first["key_name"], first["source"], first["source_port"]) == (
        "alice/photos",
        "laptop",
        "127.0.0.2",
        40002,
    )
    assert (first["lock"], first["program"], first["session"]) == ("exclusive", "borg", None)
    assert (second["key_name"], second["source"], second["lock"]) == ("desktop", "127.0.0.3", None)
    assert (
        live.cli.json("session", "list", "--repo", "alice/photos", "--json")
        == list(listed.values())
        or len(live.cli.json("session", "list", "--repo", "alice/photos", "--json")) == 2
    )

    human = live.cli.ok("session", "list").stdout
    for text in ("alice/photos", "laptop", "127.0.0.2:40002", "exclusive", str(waiting.pid)):
        assert text in human


def test_kill_ends_the_session_records_it_and_says_what_became_of_the_lock(live: Live) -> None:
    locker = _locked(live)
    result = live.cli.ok("session", "kill", str(locker.pid))

    assert locker.wait(timeout=5) is not None
    assert f"pid {locker.pid}, key laptop from 127.0.0.2:40002" in result.stdout
    assert "by SIGTERM" in result.stdout
    left = any((live.path / "lock.exclusive").glob("*"))
    assert ("stale lock" in result.stdout) is left
    with open_store(live.cli.config.store):
        (session,) = BorgSession.select()
        assert (session.pid, session.end_reason, session.key_name) == (
            locker.pid,
            "killed",
            "laptop",
        )
        assert session.key_id == SshKey.get(SshKey.name == "laptop").id
        event = Event.get(Event.kind == "session-killed")
        assert (event.session_id, event.key_name, event.source) == (
            session.id,
            "laptop",
            "127.0.0.2",
        )
        run = MaintenanceRun.get()
        assert (run.action, run.result, run.host) == ("kill", "ok", host_name())
        assert run.finished is not None

    # The next backup works: borg takes the lock again (removing a stale one).
    again = subprocess.run(
        [
            "setpriv",
            f"--reuid={live.uid}",
            f"--regid={live.uid}",
            "--clear-groups",
            "env",
            f"BORG_BASE_DIR={live.base}",
            "BORG_PASSPHRASE=correct horse battery staple",
            "BORG_RELOCATED_REPO_ACCESS_IS_OK=yes",
            "borg",
            "with-lock",
            str(live.path),
            "true",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert again.returncode == 0, again.stderr


def test_kill_by_session_id_and_by_repository(live: Live) -> None:
    first = live.client("laptop", "127.0.0.2", 40002)
    second = live.client("desktop", "127.0.0.3", 40003)
    _wait(lambda: process_info(first.pid) and process_info(second.pid))
    info = process_info(first.pid)
    assert info is not None
    with open_store(live.cli.config.store):
        row = BorgSession.create(
            repository=Repository.get(),
            host=host_name(),
            pid=first.pid,
            program="borg",
            started=from_epoch(info.started),
            key_name="laptop",
        )
    listed = live.cli.json("session", "list", "--json")
    assert {s["pid"]: s["session"] for s in listed}[first.pid] == row.id

    killed = live.cli.json("session", "kill", str(row.id), "--json")
    assert [(k["session"]["pid"], k["signal"]) for k in killed] == [(first.pid, "SIGTERM")]
    assert first.wait(timeout=5) == -signal.SIGTERM and second.poll() is None

    refused = live.cli.run("session", "kill", "--repo", "alice/photos", input="n\n")
    assert refused.exit_code == 1 and second.poll() is None
    live.cli.ok("session", "kill", "--repo", "alice/photos", "--yes")
    assert second.wait(timeout=5) == -signal.SIGTERM


@pytest.mark.parametrize(
    "target",
    ["abc", "0", "-5", "99999999999999999999", str(2**31), "1e3", "١٢", " "],
)
def test_malformed_targets_are_refused(live: Live, target: str) -> None:
    bystander = live.client("laptop", "127.0.0.2", 40002)
    result = live.cli.run("session", "kill", "--", target)
    assert_refused(result, "not a session id or pid")
    assert bystander.poll() is None


def test_processes_that_are_not_a_session_are_never_signalled(live: Live) -> None:
    unmarked = live.start(
        subprocess.Popen(["borg", "600"], executable=SLEEP, user=live.uid, start_new_session=True)
    )
    not_borg = live.start(
        marked([SLEEP, "600"], live.uid, base=live.base, key=live.fingerprints["laptop"])
    )
    elsewhere = live.start(
        marked(
            ["borg", "600"],
            61_999,
            base=public_dir("borghive-other-"),
            key=live.fingerprints["laptop"],
            executable=SLEEP,
        )
    )
    maintenance = live.start(
        marked(["borg", "600"], live.uid, base=live.base, maintenance="compact", executable=SLEEP)
    )
    _wait(lambda: all(process_info(p.pid) for p in live.processes))
    cases = [
        (str(unmarked.pid), "no live borg session"),
        (str(elsewhere.pid), "no live borg session"),
        (str(os.getpid()), "no live borg session"),
        ("1", "no live borg session"),
        ("2147483647", "no live borg session"),
        (str(not_borg.pid), "not borg or rrsync"),
        (str(maintenance.pid), "maintenance, not a client"),
    ]
    for target, words in cases:
        assert_refused(live.cli.run("session", "kill", target), words)
    assert all(p.poll() is None for p in live.processes)
    with open_store(live.cli.config.store):
        assert (BorgSession.select().count(), Event.select().count()) == (0, 0)
        assert MaintenanceRun.select().count() == 0
    assert_refused(live.cli.run("session", "kill", "--repo", "bob/none", "--yes"), "bob/none")


def test_session_or_repository_is_required_but_not_both(live: Live) -> None:
    assert live.cli.run("session", "kill").exit_code == 2
    assert live.cli.run("session", "kill", "5", "--repo", "alice/photos").exit_code == 2
