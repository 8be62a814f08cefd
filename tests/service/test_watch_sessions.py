"""The watch daemon in this process, with real inotify and real borg processes started as
a repository user with the forced command's markers, on SQLite and PostgreSQL: sessions
are recorded with their key, address, lock and end; events name them; a key's last use
moves; a restart ends what it left open; a maintenance commit never moves last update."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from borghive.config import Config
from borghive.rules.accounts import NoAccounts
from borghive.service.repositories import lifecycle as repos
from borghive.service.users import keys as key_service
from borghive.service.users import people as users
from borghive.sessions.locks import host_name
from borghive.store.models import BorgSession, Event, Repository, SshKey
from borghive.watch.daemon import Daemon
from tests.harness.borg import BORG
from tests.harness.environment import public_dir, remove_tree
from tests.harness.keys import GeneratedKey
from tests.harness.sessions import holding_lock, marked, own, stop

UID = 61_237  # no account: the repository directory's owner is all the daemon goes by
SLEEP = "/bin/sleep"


@dataclasses.dataclass
class Site:
    config: Config
    path: Path
    base: Path
    keys: dict[str, str]  # key name -> fingerprint


@pytest.fixture
def site(
    store: Config, make_borg_repo: Callable[[Path], Path], ssh_key: Callable[[str], GeneratedKey]
) -> Iterator[Site]:
    """alice/laptop, a real borg repository owned by UID under a root others may enter,
    with keys k1 and k2 of alice's."""
    root = public_dir("borghive-sessions-")
    config = dataclasses.replace(store, repos=dataclasses.replace(store.repos, root=root))
    users.add_user("alice")
    fingerprints = {}
    for name in ("k1", "k2"):
        info = key_service.add_key(
            "alice", ssh_key(f"sessions-{name}").text, name, rsa_min_bits=2048
        )
        fingerprints[name] = info.fingerprint
    created = repos.create_repository(config, NoAccounts(), "alice/laptop")
    path = make_borg_repo(Path(created.repository.path))
    own(root / created.repository.repo_user, UID)
    base = public_dir("borghive-sessions-base-")
    try:
        yield Site(config, path, base, fingerprints)
    finally:
        remove_tree(root)
        remove_tree(base)


def _until(daemon: Daemon, predicate: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        daemon.step()
        if predicate():
            return
    raise AssertionError(f"timed out waiting for {predicate}")


def _sessions() -> list[BorgSession]:
    return list(BorgSession.select().order_by(BorgSession.started, BorgSession.pid))


def test_sessions_name_their_key_address_lock_and_end(site: Site) -> None:
    daemon = Daemon(site.config)
    daemon.start()
    waiting = marked(
        [SLEEP, "600"], UID, base=site.base, key=site.keys["k2"], source=("127.0.0.3", 40003)
    )
    locking = holding_lock(
        site.path, UID, base=site.base, key=site.keys["k1"], source=("127.0.0.2", 40002)
    )
    try:
        locked = BorgSession.select().where(BorgSession.lock_since.is_null(False))
        _until(daemon, lambda: locked.count() == 1 and BorgSession.select().count() == 2)
        by_key = {session.key_name: session for session in _sessions()}
        first, second = by_key["k1"], by_key["k2"]
        assert (first.source, first.source_port, first.pid, first.program) == (
            "127.0.0.2",
            40002,
            locking.pid,
            "borg",
        )
        assert first.key_fingerprint == site.keys["k1"] and first.host == host_name()
        assert first.lock_since is not None and first.ended is None
        assert (second.source, second.source_port, second.pid) == ("127.0.0.3", 40003, waiting.pid)
        assert second.lock_since is None  # never took the lock (an rrsync, a waiting client)
        opened = Event.get(Event.kind == "opened")
        assert (opened.session_id, opened.key_name, opened.source) == (first.id, "k1", "127.0.0.2")
        used = {key.name: (key.last_used, key.last_used_from) for key in SshKey.select()}
        assert used["k1"] == (first.started, "127.0.0.2")
        assert used["k2"] == (second.started, "127.0.0.3")

        stop(locking)  # SIGKILL: dies holding the lock
        stop(waiting, signal.SIGTERM)
        _until(daemon, lambda: all(s.ended is not None for s in _sessions()))
        by_key = {session.key_name: session for session in _sessions()}
        assert by_key["k1"].end_reason == "vanished"
        assert by_key["k2"].end_reason == "closed"
    finally:
        for process in (locking, waiting):
            if process.poll() is None:
                stop(process)
        daemon.close()


def test_a_committing_session_is_marked_and_its_events_name_it(site: Site) -> None:
    daemon = Daemon(site.config)
    daemon.start()
    client = marked(
        [BORG, "compact", str(site.path)],
        UID,
        base=site.base,
        key=site.keys["k1"],
        source=("127.0.0.2", 40010),
    )
    try:
        # The daemon runs while borg does: it learns of the session when borg takes the lock.
        _until(daemon, lambda: "closed" in [e.kind for e in Event.select()])
        assert client.wait(timeout=60) == 0, client.stderr.read() if client.stderr else ""
        _until(daemon, lambda: all(s.ended is not None for s in _sessions()), timeout=10)
        (session,) = _sessions()
        assert session.committed and session.end_reason == "closed"
        updated = Event.get(Event.kind == "updated")
        assert (updated.session_id, updated.key_name, updated.source) == (
            session.id,
            "k1",
            "127.0.0.2",
        )
        assert Repository.get().last_access_by == "client"
    finally:
        daemon.close()


def test_a_restart_ends_the_sessions_it_left_open(site: Site) -> None:
    BorgSession.create(
        repository=Repository.get(),
        host=host_name(),
        pid=2**22 + 7,
        program="borg",
        started=dt.datetime(2026, 1, 1),
        key_name="k1",
    )
    BorgSession.create(
        repository=Repository.get(),
        host="elsewhere.example.org",
        pid=1,
        program="borg",
        started=dt.datetime(2026, 1, 1),
    )
    daemon = Daemon(site.config)
    daemon.start()
    try:
        _until(daemon, lambda: _sessions()[0].ended is not None or _sessions()[1].ended is not None)
        here = BorgSession.get(BorgSession.host == host_name())
        assert here.end_reason == "vanished"
        # Another host's sessions are that host's daemon's business.
        assert BorgSession.get(BorgSession.host != host_name()).ended is None
    finally:
        daemon.close()


def test_a_maintenance_commit_moves_last_access_never_last_update(site: Site) -> None:
    daemon = Daemon(site.config)
    daemon.start()
    try:
        assert daemon.flush()
        before = Repository.get()
        assert before.last_update is not None
        compact = marked(
            [BORG, "compact", str(site.path)], UID, base=site.base, maintenance="compact"
        )
        _until(daemon, lambda: "closed" in [e.kind for e in Event.select()])
        assert compact.wait(timeout=60) == 0
        assert daemon.flush()
        after = Repository.get()
        newest = max(site.path.glob("index.*"), key=os.path.getmtime)
        assert after.last_update == before.last_update
        assert after.last_access_by == "maintenance"
        assert after.last_access >= dt.datetime.fromtimestamp(
            newest.stat().st_mtime, dt.UTC
        ).replace(tzinfo=None)
        assert BorgSession.select().count() == 0  # maintenance is not a client session

        daemon.rescan()
        assert daemon.flush()
        assert Repository.get().last_update == before.last_update
    finally:
        daemon.close()


def test_a_commit_read_late_is_still_the_lock_holders(site: Site) -> None:
    """The daemon may read a commit's event after borg has released the lock and exited:
    the holder seen when the lock appeared still counts (here, maintenance's)."""
    from borghive.service.events.records import RepoKey
    from borghive.watch.classify import Action, Change
    from borghive.watch.sessions import SessionTracker

    tracker = SessionTracker(site.config.repos.root)
    key = RepoKey(site.path.parent.name, site.path.name)
    now = dt.datetime(2026, 1, 1)
    holder = holding_lock(site.path, UID, base=site.base, maintenance="compact")
    try:
        deadline = time.monotonic() + 20
        while not any((site.path / "lock.exclusive").glob("*")):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        tracker.changed(key, Change(Action.APPEARED, "lock.exclusive", True), 1, now)
    finally:
        stop(holder, signal.SIGTERM)
    assert not any((site.path / "lock.exclusive").glob("*"))  # released meanwhile

    records, maintenance = tracker.changed(key, Change(Action.APPEARED, "index.99"), 1, now)
    assert maintenance and records == []  # maintenance is no client session
    tracker.changed(key, Change(Action.VANISHED, "lock.exclusive", True), 99, now)
    assert tracker.commit(key, now) == ([], False)  # released: nobody holds it now
