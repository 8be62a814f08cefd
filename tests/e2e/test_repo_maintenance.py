"""``repo compact|check|break-lock`` on real borg repositories made by a real borg client
running as the repository user; borghive runs borg as that user too."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from borghive.sessions.locks import EXCLUSIVE_DIR, ROSTER_FILE, is_locked, this_host_id
from borghive.store import open_store
from borghive.store.models import Event, MaintenanceRun, Repository, SshKey
from tests.cli.helpers import assert_refused
from tests.harness.alerts import Web
from tests.harness.borg import BORG, du
from tests.harness.maintenance import MaintenanceSite

pytestmark = pytest.mark.e2e


def _owners(path: Path) -> set[int]:
    return {os.lstat(Path(d, n)).st_uid for d, _, names in os.walk(path) for n in names}


def _segments(path: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in (path / "data").rglob("*") if p.is_file()}


def _fingerprint(name: str) -> str:
    return str(SshKey.get(SshKey.name == name).fingerprint)


def test_compact_frees_what_du_sees_and_keeps_owner_and_last_update(
    maintenance_site: MaintenanceSite,
) -> None:
    site = maintenance_site
    path, uid = site.initialised("photos")
    before_update = site.repository("photos").last_update
    before = du(path)
    report = site.cli.json("repo", "compact", "alice/photos")
    after = du(path)
    assert report["result"] == "ok"
    assert report["bytes_freed"] > 1_000_000  # the pruned archive's 2 MB of random data
    assert abs((before - after) - report["bytes_freed"]) <= 4096
    assert _owners(path) == {uid}
    site.client(uid, "check", str(path))  # the client's own check still passes
    repo = site.repository("photos")
    assert repo.last_update == before_update
    assert repo.last_access_by == "maintenance"
    assert repo.last_compact is not None
    assert repo.last_bytes_freed == report["bytes_freed"]
    with open_store(site.config.store, readonly=True):
        run = MaintenanceRun.get(MaintenanceRun.repository == repo.id)
        assert (run.action, run.result, run.bytes_freed) == ("compact", "ok", report["bytes_freed"])
        assert run.finished is not None
        kinds = [e.kind for e in Event.select().where(Event.repository == repo.id)]
    assert "compacted" in kinds


def test_compact_is_refused_while_a_client_session_holds_the_lock(
    maintenance_site: MaintenanceSite,
) -> None:
    site = maintenance_site
    path, uid = site.initialised("photos")
    with open_store(site.config.store, readonly=True):
        fingerprint = _fingerprint("laptop")
    with site.session(path, uid, fingerprint) as pid:
        segments = _segments(path)
        result = site.cli.run("repo", "compact", "alice/photos")
        line = assert_refused(result, "alice/photos", f"pid {pid}", "alice/laptop", "192.0.2.7")
        assert "since" in line
        # Nothing compacted: every segment is still there, unchanged. (borg with-lock may
        # write its own commit's segments meanwhile: new ones can appear.)
        after = _segments(path)
        assert {name: after.get(name) for name in segments} == segments
        result = site.cli.run("repo", "check", "alice/photos")
        assert_refused(result, f"pid {pid}", "alice/laptop")
    repo = site.repository("photos")
    assert repo.last_compact is None
    assert repo.last_access_by is None
    with open_store(site.config.store, readonly=True):
        results = [r.result for r in MaintenanceRun.select()]
    assert results == ["refused", "refused"]


def _flip_byte(path: Path) -> tuple[Path, bytes]:
    """Flip one byte in the middle of the largest segment; (segment, original bytes)."""
    segments = [p for p in (path / "data").rglob("*") if p.is_file()]
    largest = max(segments, key=lambda p: p.stat().st_size)
    original = largest.read_bytes()
    damaged = bytearray(original)
    damaged[len(damaged) // 2] ^= 0xFF
    largest.write_bytes(bytes(damaged))
    return largest, original


def test_check_names_the_damaged_segment_and_passes_once_restored(
    maintenance_site: MaintenanceSite,
) -> None:
    site = maintenance_site
    path, _ = site.initialised("photos")
    assert site.cli.json("repo", "check", "alice/photos")["result"] == "ok"
    segment, original = _flip_byte(path)
    result = site.cli.run("repo", "check", "alice/photos", "--json")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    report = json.loads(result.stdout)
    assert report["result"] == "failed"
    assert report["damaged_segments"] == [int(segment.name)]
    assert f"damaged segments {segment.name}" in result.stderr
    repo = site.repository("photos")
    assert repo.last_check_ok is False
    assert f"damaged segments {segment.name}" in repo.last_check_detail
    segment.write_bytes(original)
    assert site.cli.json("repo", "check", "alice/photos")["result"] == "ok"
    repo = site.repository("photos")
    assert repo.last_check_ok is True


def _killed_lock(site: MaintenanceSite, path: Path, uid: int) -> None:
    """A lock left by a borg killed while holding it (SIGKILL: no cleanup)."""
    process = subprocess.Popen(
        [BORG, "with-lock", str(path), "sleep", "300"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(site.home), "BORG_BASE_DIR": str(site.home)},
        user=uid,
        group=site.config.repos.gid,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(400):
            if (path / EXCLUSIVE_DIR).is_dir() and os.listdir(path / EXCLUSIVE_DIR):
                break
            subprocess.run(["sleep", "0.05"], check=True)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        # sleep, borg's child, lived on in its own right
        subprocess.run(["pkill", "-KILL", "-u", str(uid), "-x", "sleep"], check=False)
    assert is_locked(path)


def test_break_lock_clears_a_lock_left_by_a_killed_process(
    maintenance_site: MaintenanceSite,
) -> None:
    site = maintenance_site
    path, uid = site.initialised("photos")
    _killed_lock(site, path, uid)
    report = site.cli.json("repo", "break-lock", "alice/photos")
    assert report["result"] == "ok"
    assert "stale" in report["detail"]
    assert not (path / EXCLUSIVE_DIR).exists()
    assert not (path / ROSTER_FILE).exists()
    with open_store(site.config.store, readonly=True):
        kinds = [e.kind for e in Event.select()]
    assert "lock-broken" in kinds


def test_break_lock_refuses_a_live_holder_and_force_clears_it(
    maintenance_site: MaintenanceSite,
) -> None:
    site = maintenance_site
    path, uid = site.initialised("photos")
    with open_store(site.config.store, readonly=True):
        fingerprint = _fingerprint("laptop")
    with site.session(path, uid, fingerprint) as pid:
        result = site.cli.run("repo", "break-lock", "alice/photos")
        assert_refused(result, f"pid {pid}", "alice/laptop")
        assert "session kill" in result.stderr
        assert is_locked(path)
        report = site.cli.json("repo", "break-lock", "alice/photos", "--force")
        assert report["result"] == "ok"
        assert "forced" in report["detail"]
        assert not is_locked(path)


def test_break_lock_of_another_hosts_lock(maintenance_site: MaintenanceSite) -> None:
    site = maintenance_site
    path, uid = site.initialised("photos")
    (path / EXCLUSIVE_DIR).mkdir()
    (path / EXCLUSIVE_DIR / "elsewhere.example@1234.4242-0").touch()
    for made in (path / EXCLUSIVE_DIR, *(path / EXCLUSIVE_DIR).iterdir()):
        os.chown(made, uid, site.config.repos.gid)
    assert this_host_id() != "elsewhere.example@1234"
    report = site.cli.json("repo", "break-lock", "alice/photos")
    assert report["result"] == "ok"
    assert not is_locked(path)


def test_append_only_is_not_compacted_unless_allowed(maintenance_site: MaintenanceSite) -> None:
    site = maintenance_site
    path, _ = site.initialised("photos", append_only=True)
    segments = _segments(path)
    result = site.cli.run("repo", "compact", "alice/photos")
    line = assert_refused(result, "append-only", "rolling back")
    assert "--compact-append-only yes" in result.stderr, line
    assert _segments(path) == segments
    site.cli.ok("repo", "set", "alice/photos", "--compact-append-only", "yes")
    assert site.cli.json("repo", "compact", "alice/photos")["bytes_freed"] > 1_000_000
    site.cli.ok("repo", "set", "alice/photos", "--compact-append-only", "no")
    assert_refused(site.cli.run("repo", "compact", "alice/photos"), "append-only")


def test_a_running_claim_refuses_and_an_abandoned_one_is_taken_over(
    maintenance_site: MaintenanceSite,
) -> None:
    site = maintenance_site
    site.initialised("photos")
    repo = site.repository("photos")
    with open_store(site.config.store):
        MaintenanceRun.create(repository=repo.id, action="check", host=this_host_id(), pid=1)
    assert_refused(
        site.cli.run("repo", "compact", "alice/photos"), "already running", "check by pid 1"
    )
    dead = subprocess.Popen(["true"])
    dead.wait()
    with open_store(site.config.store):
        MaintenanceRun.delete().execute()
        MaintenanceRun.create(repository=repo.id, action="check", host=this_host_id(), pid=dead.pid)
    assert site.cli.json("repo", "compact", "alice/photos")["result"] == "ok"
    with open_store(site.config.store, readonly=True):
        runs = {(r.pid, r.result) for r in MaintenanceRun.select()}
        abandoned = MaintenanceRun.get(MaintenanceRun.pid == dead.pid)
    assert (dead.pid, "failed") in runs
    assert "abandoned" in abandoned.detail


@pytest.mark.parametrize("command", ["compact", "check", "break-lock"])
def test_bad_and_missing_repositories_are_refused(
    maintenance_site: MaintenanceSite, command: str
) -> None:
    site = maintenance_site
    assert_refused(site.cli.run("repo", command, "alice/nothing"), "alice/nothing", "not found")
    assert_refused(site.cli.run("repo", command, "alice/a b"), "whitespace")
    site.add("empty")
    assert_refused(site.cli.run("repo", command, "alice/empty"), "no borg repository")
    with open_store(site.config.store, readonly=True):
        assert MaintenanceRun.select().count() == 0
        assert Repository.get(Repository.name == "empty").last_access_by is None


def test_a_session_behind_a_lock_naming_a_pid_from_another_namespace_is_respected(
    maintenance_site: MaintenanceSite,
) -> None:
    """borg serve in another pid namespace names a pid that is free out here; while its
    session (marked by the forced command) runs, the lock is not stale."""
    site = maintenance_site
    path, uid = site.initialised("photos")
    dead = subprocess.Popen(["true"])
    dead.wait()
    (path / EXCLUSIVE_DIR).mkdir()
    holder = path / EXCLUSIVE_DIR / f"{this_host_id()}.{dead.pid}-0"
    holder.touch()
    for made in (path / EXCLUSIVE_DIR, holder):
        os.chown(made, uid, site.config.repos.gid)
    with open_store(site.config.store, readonly=True):
        fingerprint = _fingerprint("laptop")
    session = subprocess.Popen(
        ["sleep", "60"],
        env={"PATH": "/usr/bin:/bin", "BORGHIVE_KEY": fingerprint},
        user=uid,
        group=site.config.repos.gid,
    )
    try:
        for command in ("compact", "check", "break-lock"):
            result = site.cli.run("repo", command, "alice/photos")
            assert_refused(result, f"client session pid {session.pid}", "alice/laptop")
        assert holder.exists()
    finally:
        session.kill()
        session.wait()
    assert site.cli.json("repo", "break-lock", "alice/photos")["result"] == "ok"
    assert not is_locked(path)


def test_a_failed_check_reaches_the_owners_webhook_and_so_does_its_recovery(
    maintenance_site: MaintenanceSite, web: Web
) -> None:
    """The whole chain: a real ``repo check`` finds a flipped byte, ``alert check`` sends
    ``check-failed`` naming the segment to the owner's real webhook; the byte restored,
    the next check passes and ``alert check`` sends ``check-passed``."""
    site = maintenance_site
    path, _ = site.initialised("photos")
    site.cli.ok("user", "notify", "add", "alice", "webhook", web.url("/hook/alice"))
    segment, original = _flip_byte(path)
    assert site.cli.run("repo", "check", "alice/photos").exit_code == 1
    site.cli.ok("alert", "check")
    (failed,) = [b for b in web.bodies("/hook/alice") if b["event"] == "check-failed"]
    assert failed["check"]["ok"] is False
    assert f"damaged segments {segment.name}" in failed["check"]["detail"]
    site.cli.ok("alert", "check")  # told once, not again before the realert interval
    assert len(web.bodies("/hook/alice")) == 1
    segment.write_bytes(original)
    assert site.cli.json("repo", "check", "alice/photos")["result"] == "ok"
    site.cli.ok("alert", "check")
    assert [b["event"] for b in web.bodies("/hook/alice")] == ["check-failed", "check-passed"]
