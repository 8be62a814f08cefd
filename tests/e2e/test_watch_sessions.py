"""Sessions end to end: the real sshd login host (tests/harness/sshd.py), the real borg
client logging in from two loopback addresses with two keys, and the installed ``borghive
watch`` recording who opened which session; a client stopped mid-backup shown by
``session list`` with its lock, ended by ``session kill``, after which the next backup
works."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_borg_login import BORG, PASSPHRASE, TIMEOUT, BorgSite, _require
from tests.harness.alerts import Web
from tests.harness.config import toml_text
from tests.harness.watch import WatchProcess

pytestmark = [pytest.mark.sshd, pytest.mark.e2e, pytest.mark.slapd]


class SessionSite(BorgSite):
    """BorgSite with the watch daemon's spool in the site and k2 granted on laptop too."""

    def _config_text(self, port: int) -> str:
        text = super()._config_text(port)
        return text + toml_text({
            "watch": {"spool": str(self.server / "watch.spool")},
            # A stopped client is stuck at once; a prune holds compaction for a second only.
            "maintenance": {"lock_alert_after": "2s", "delete_hold": "1s"},
        })  # fmt: skip

    def start(self) -> None:
        super().start()
        self.cli("repo", "grant", "alice/laptop", "k2")

    def borg_from(
        self, key: Path, address: str, *args: str, wait: bool = True
    ) -> subprocess.Popen[str]:
        """``borg ARGS`` on laptop, logging in with ``key`` from ``address``."""
        assert self.host is not None
        rsh = [*self.host.ssh_argv(key), "-o", f"BindAddress={address}"]
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.client),
            "LANG": "C.UTF-8",
            "BORG_RSH": shlex.join(rsh),
            "BORG_PASSPHRASE": PASSPHRASE,
            "BORG_BASE_DIR": str(self.client / "borg"),
            "BORG_REPO": self.url("laptop"),
        }
        process = subprocess.Popen(
            [str(BORG), *args],
            cwd=self.client,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        if wait:
            out, err = process.communicate(timeout=TIMEOUT)
            assert process.returncode == 0, (args, out, err)
        return process

    def query(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        connection = sqlite3.connect(self.database, timeout=30)
        try:
            return connection.execute(sql, params).fetchall()
        finally:
            connection.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SessionSite]:
    _require()
    site = SessionSite(tmp_path_factory.mktemp("sessions"))
    try:
        site.start()
        yield site
    finally:
        site.stop()


@pytest.fixture(scope="module")
def watcher(site: SessionSite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WatchProcess]:
    process = WatchProcess(site.config, tmp_path_factory.mktemp("watch") / "watch.log")
    yield process
    assert process.stop() == 0, process.text()
    assert "Traceback" not in process.text(), process.text()


def _wait(predicate: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {predicate}"
        time.sleep(0.1)


def _children(pid: int) -> list[tuple[int, str]]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2 :].split()
            if int(fields[1]) == pid:
                found.append((int(entry.name), stat[stat.find("(") + 1 : stat.rfind(")")]))
    return found


def test_sessions_and_events_name_the_key_and_the_address(
    site: SessionSite, watcher: WatchProcess, tmp_path: Path
) -> None:
    source = tmp_path / "data"
    source.mkdir()
    (source / "a.bin").write_bytes(os.urandom(100_000))
    site.borg_from(site.k1, "127.0.0.2", "init", "-e", "repokey")
    site.borg_from(site.k2, "127.0.0.3", "create", "::one", str(source))

    def recorded() -> set[tuple[str, str]]:
        return {
            (str(name), str(address))
            for name, address in site.query(
                "SELECT key_name, source FROM borg_session WHERE ended IS NOT NULL"
            )
        }

    try:
        _wait(lambda: {("k1", "127.0.0.2"), ("k2", "127.0.0.3")} <= recorded())
    except AssertionError:
        raise AssertionError(
            (site.query("SELECT * FROM borg_session"), watcher.text()[-3000:])
        ) from None
    committed = site.query(
        "SELECT key_name, committed, end_reason FROM borg_session ORDER BY started"
    )
    assert ("k2", 1, "closed") in committed
    events = site.query(
        "SELECT kind, key_name, source FROM event WHERE session_id IS NOT NULL ORDER BY id"
    )
    # The init session creates the directory it locks: the daemon may watch it only after
    # the lock appeared, so its "opened" can come before the session is known (the sweep
    # finds it, as recorded() shows). The create's session is known from its lock on.
    assert ("opened", "k2", "127.0.0.3") in events
    assert ("updated", "k2", "127.0.0.3") in events
    shown = json.loads(site.cli("key", "show", "alice/k2", "--json").stdout)
    assert shown["last_used_from"] == "127.0.0.3" and shown["last_used"] is not None
    accesses = json.loads(site.cli("repo", "show", "alice/laptop", "--json").stdout)["accesses"]
    assert {(a["key"], a["last_used_from"]) for a in accesses} == {
        ("alice/k1", "127.0.0.2"),
        ("alice/k2", "127.0.0.3"),
    }


def test_a_stopped_client_is_listed_with_its_lock_and_killed(
    site: SessionSite, watcher: WatchProcess, tmp_path: Path, web: Web
) -> None:
    source = tmp_path / "big"
    source.mkdir()
    (source / "big.bin").write_bytes(os.urandom(64 * 1024 * 1024))
    if not (site.path("laptop") / "config").exists():
        site.borg_from(site.k1, "127.0.0.2", "init", "-e", "repokey")
    backup = site.borg_from(site.k1, "127.0.0.2", "create", "::stopped", str(source), wait=False)
    ssh: list[int] = []
    try:
        _wait(lambda: any((site.path("laptop") / "lock.exclusive").glob("*")))
        ssh = [pid for pid, name in _children(backup.pid) if name == "ssh"]
        assert ssh, _children(backup.pid)
        os.kill(backup.pid, signal.SIGSTOP)
        for pid in ssh:
            os.kill(pid, signal.SIGSTOP)

        listed = json.loads(site.cli("session", "list", "--repo", "alice/laptop", "--json").stdout)
        (session,) = [s for s in listed if s["lock"] == "exclusive"]
        assert (session["key_name"], session["source"]) == ("k1", "127.0.0.2")
        assert session["program"] == "borg"
        # Held past maintenance.lock_alert_after: the owner's webhook hears lock-stuck,
        # naming the session that holds it.
        site.cli("user", "notify", "add", "alice", "webhook", web.url("/hook/alice"))
        time.sleep(2.5)
        site.cli("alert", "check")
        (stuck,) = [b for b in web.bodies("/hook/alice") if b["event"] == "lock-stuck"]
        assert f"pid {session['pid']}" in stuck["text"] and "k1" in stuck["text"], (
            stuck["text"],
            stuck.get("lock"),
            session,
        )

        killed = site.cli("session", "kill", str(session["pid"]))
        assert f"pid {session['pid']}" in killed.stdout
        _wait(lambda: not Path(f"/proc/{session['pid']}").exists(), 15)
        rows = site.query("SELECT end_reason FROM borg_session WHERE pid = ?", session["pid"])
        assert rows == [("killed",)]
        assert site.query("SELECT action, result FROM maintenance_run") == [("kill", "ok")]
        kinds = [kind for (kind,) in site.query("SELECT kind FROM event")]
        assert "session-killed" in kinds
        site.cli("alert", "check")
        assert [b["event"] for b in web.bodies("/hook/alice")] == ["lock-stuck", "lock-released"]
        site.cli("user", "notify", "remove", "alice", "webhook", web.url("/hook/alice"))
    finally:
        for pid in [*ssh, backup.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        backup.communicate(timeout=30)

    site.borg_from(site.k1, "127.0.0.2", "create", "::after", str(source))


def test_compaction_under_the_daemon_never_moves_last_update(
    site: SessionSite, watcher: WatchProcess, tmp_path: Path
) -> None:
    """A real client creates and prunes through its full key over sshd while the daemon
    records; ``repo compact`` frees what du sees; the client's own check passes; neither
    the compaction, the daemon's view of it nor ``stats collect`` moves last update, and
    the next client session is the client's access again."""
    from tests.harness.borg import du

    path = site.path("laptop")
    source = tmp_path / "prune"
    source.mkdir()
    if not (path / "config").exists():
        site.borg_from(site.k1, "127.0.0.2", "init", "-e", "repokey")
    for name in ("p1", "p2"):
        (source / "data.bin").write_bytes(os.urandom(2_000_000))
        site.borg_from(site.k1, "127.0.0.2", "create", f"::{name}", str(source))
    site.borg_from(site.k1, "127.0.0.2", "prune", "--keep-last=1")

    def stored() -> tuple[Any, ...]:
        (row,) = site.query(
            "SELECT last_update, last_access, last_access_by FROM repository WHERE name = 'laptop'"
        )
        return row

    newest_index = max(p.stat().st_mtime for p in path.glob("index.*"))
    _wait(lambda: stored()[2] == "client" and stored()[0] is not None)
    _wait(lambda: not site.query("SELECT 1 FROM borg_session WHERE ended IS NULL"))
    before = stored()
    # The prune is a deletion: acknowledged, and past the (shortened) hold.
    site.cli("repo", "history", "alice/laptop")
    site.cli("alert", "ack", "alice/laptop")
    time.sleep(1.2)
    size = du(path)
    report = json.loads(site.cli("repo", "compact", "alice/laptop", "--json").stdout)
    assert report["result"] == "ok" and report["bytes_freed"] > 1_000_000
    assert abs((size - du(path)) - report["bytes_freed"]) <= 4096
    assert max(p.stat().st_mtime for p in path.glob("index.*")) > newest_index
    # The daemon sees the compaction's commit: only last access moves, as maintenance's.
    _wait(lambda: stored()[1] != before[1] and stored()[2] == "maintenance")
    time.sleep(1.5)  # and nothing later turns it into a client's update
    assert stored()[0] == before[0] and stored()[2] == "maintenance"
    site.cli("stats", "collect")
    assert stored()[0] == before[0]
    site.borg_from(site.k1, "127.0.0.2", "check")
    _wait(lambda: stored()[2] == "client")
    assert stored()[0] == before[0]
