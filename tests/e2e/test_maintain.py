"""``borghive maintain`` on real borg repositories: schedules, the jobs limit, open
sessions, the window, the append-only rule, and two hosts' cron at once on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path

import pytest

from borghive.config import BorgConfig, MaintenanceConfig
from borghive.rules.times import utcnow
from borghive.store import open_store
from borghive.store.models import Event, MaintenanceRun, Repository, SshKey
from tests.cli.helpers import assert_refused
from tests.harness.borg import BORG
from tests.harness.environment import borghive_command
from tests.harness.maintenance import MaintenanceSite, make_site

pytestmark = pytest.mark.e2e


def _age(site: MaintenanceSite, name: str, days: int = 60) -> None:
    """Make alice/NAME created ``days`` ago, so its first runs are due."""
    with open_store(site.config.store):
        Repository.update(created=utcnow() - dt.timedelta(days=days)).where(
            Repository.name == name
        ).execute()


def _runs(site: MaintenanceSite) -> list[tuple[str, str, str]]:
    with open_store(site.config.store, readonly=True):
        return sorted(
            (r.repository.name, r.action, r.result)
            for r in MaintenanceRun.select(MaintenanceRun, Repository).join(Repository)
        )


def _wrapper(root: Path, log: Path, pause: float = 0.0) -> Path:
    """A borg that logs when it starts and ends (to measure concurrency), then runs the
    real one; readable by the repository users."""
    log.touch()
    log.chmod(0o666)
    script = root / "borg-logged"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "start $$ $(date +%s.%N)" >> {log}\n'
        f'echo "as $(id -u) $(id -G | tr " " ,) $(umask) $BORGHIVE_MAINTENANCE" >> {log}\n'
        f"sleep {pause}\n"
        f'{BORG} "$@"; status=$?\n'
        f'echo "end $$ $(date +%s.%N)" >> {log}\n'
        "exit $status\n"
    )
    script.chmod(0o755)
    return script


def _most_at_once(log: Path) -> tuple[int, int]:
    """(borg processes started, the most running at the same moment) from the log."""
    events = []
    for line in log.read_text().splitlines():
        if line.startswith("as "):
            continue
        kind, _, moment = line.split()
        events.append((float(moment), 0 if kind == "end" else 1))
    running = most = 0
    for _, start in sorted(events):
        running += 1 if start else -1
        most = max(most, running)
    return sum(1 for _, start in events if start), most


def test_maintain_runs_what_is_due_and_nothing_twice(maintenance_site: MaintenanceSite) -> None:
    site = maintenance_site
    for name in ("due", "never", "fresh"):
        site.initialised(name)
    site.initialised("appendonly", append_only=True)
    for name in ("due", "never", "appendonly"):
        _age(site, name)
    site.cli.ok("repo", "set", "alice/never", "--compact-every", "never", "--check-every", "never")
    plan = site.cli.json("maintain", "--dry-run")
    assert {(s["repository"], s["action"]) for s in plan["planned"]} == {
        ("alice/due", "compact"),
        ("alice/due", "check"),
        ("alice/appendonly", "check"),
    }
    assert [(s["repository"], s["action"]) for s in plan["skipped"]] == [
        ("alice/appendonly", "compact")
    ]
    assert "append-only" in plan["skipped"][0]["reason"]
    assert _runs(site) == []  # a dry run starts nothing
    report = site.cli.json("maintain")
    assert {(r["repository"], r["action"], r["result"]) for r in report["results"]} == {
        ("alice/due", "compact", "ok"),
        ("alice/due", "check", "ok"),
        ("alice/appendonly", "check", "ok"),
    }
    assert report["failed"] == 0
    compacted = next(r for r in report["results"] if r["action"] == "compact")
    assert compacted["bytes_freed"] > 1_000_000
    due = site.repository("due")
    assert due.last_compact is not None and due.last_check_ok is True
    assert due.last_update is None  # the client's creates were not seen by a daemon here
    again = site.cli.json("maintain")
    assert again["results"] == [] and again["planned"] == []
    assert len(_runs(site)) == 3


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # the store plays no part
def test_maintain_runs_at_most_jobs_borg_processes(
    store_url: str, tmp_path: Path, maintenance_root: Path
) -> None:
    log = maintenance_root / "borg.log"
    site = make_site(
        store_url,
        tmp_path,
        maintenance_root,
        borg=BorgConfig(path=_wrapper(maintenance_root, log, pause=0.5)),
        maintenance=MaintenanceConfig(check_every="never", jobs=2),
    )
    names = [f"r{n}" for n in range(5)]
    for name in names:
        site.initialised(name)
        _age(site, name)
    report = site.cli.json("maintain")
    assert sorted(r["result"] for r in report["results"]) == ["ok"] * 5
    started, most = _most_at_once(log)
    assert started == 5
    assert most == 2
    # borg ran as each repository user, in the repositories' group alone, umask 077, marked
    with open_store(site.config.store, readonly=True):
        uids = {str(r.uid_number) for r in Repository.select()}
    identities = [line.split() for line in log.read_text().splitlines() if line.startswith("as ")]
    gid = str(site.config.repos.gid)
    assert sorted(uid for _, uid, _, _, _ in identities) == sorted(uids)
    assert {(groups, umask, marker) for _, _, groups, umask, marker in identities} == {
        (gid, "0077", "compact")
    }


def test_maintain_skips_a_repository_with_a_session_open(
    maintenance_site: MaintenanceSite,
) -> None:
    site = maintenance_site
    busy, uid = site.initialised("busy")
    site.initialised("idle")
    for name in ("busy", "idle"):
        _age(site, name)
    with open_store(site.config.store, readonly=True):
        fingerprint = str(SshKey.get(SshKey.name == "laptop").fingerprint)
    with site.session(busy, uid, fingerprint):
        report = site.cli.json("maintain")
    assert {(r["repository"], r["result"]) for r in report["results"]} == {("alice/idle", "ok")}
    assert {(s["repository"], s["reason"][:24]) for s in report["skipped"]} == {
        ("alice/busy", "a client session is open")
    }
    assert site.repository("busy").last_compact is None
    later = site.cli.json("maintain")  # retried at the next run, once the session is gone
    assert {(r["repository"], r["result"]) for r in later["results"]} == {("alice/busy", "ok")}


def test_maintain_outside_its_window_starts_nothing(
    store_url: str, tmp_path: Path, maintenance_root: Path
) -> None:
    local = dt.datetime.now().astimezone()
    start, end = local + dt.timedelta(hours=2), local + dt.timedelta(hours=3)
    window = f"{start:%H:%M}-{end:%H:%M}"
    site = make_site(
        store_url, tmp_path, maintenance_root, maintenance=MaintenanceConfig(window=window)
    )
    site.initialised("photos")
    _age(site, "photos")
    result = site.cli.ok("maintain")
    assert f"outside the maintenance window {window}: nothing started" in result.stdout
    assert _runs(site) == []
    report = site.cli.json("maintain")
    assert report["in_window"] is False and len(report["planned"]) == 2
    dry = site.cli.ok("maintain", "--dry-run").stdout
    assert f"outside the maintenance window {window}: a real run would start nothing" in dry
    assert _runs(site) == []


@pytest.mark.parametrize("backend", [pytest.param("pg", marks=pytest.mark.pg)], indirect=True)
def test_two_hosts_maintain_at_once_and_each_repository_is_compacted_once(
    maintenance_site: MaintenanceSite,
) -> None:
    site = maintenance_site
    names = [f"r{n}" for n in range(4)]
    for name in names:
        site.initialised(name)
        _age(site, name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BORGHIVE", "BORG_"))}
    command = [borghive_command(), "--config", str(site.cli.config_file), "maintain", "--json"]
    processes = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=300) for process in processes]
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, (out, err)
    reports = [json.loads(out) for out, _ in outputs]
    done = [
        (r["repository"], r["action"])
        for report in reports
        for r in report["results"]
        if r["result"] == "ok"
    ]
    assert sorted(done) == sorted(
        (f"alice/{n}", action) for n in names for action in ("compact", "check")
    )
    runs = _runs(site)
    assert sorted((n, a) for n, a, result in runs if result == "ok") == sorted(
        (n, a) for n in names for a in ("compact", "check")
    )
    with open_store(site.config.store, readonly=True):
        assert Event.select().where(Event.kind == "compacted").count() == 4


@pytest.mark.parametrize(
    ("option", "value", "why"),
    [
        ("--compact-every", "soon", "invalid"),
        ("--compact-every", "-1d", "invalid"),
        ("--check-every", "7x", "invalid"),
        ("--check-every", "", "invalid"),
        ("--compact-append-only", "maybe", "expected yes or no"),
    ],
)
def test_repo_set_refuses_bad_maintenance_values(
    maintenance_site: MaintenanceSite, option: str, value: str, why: str
) -> None:
    site = maintenance_site
    site.add("photos")
    before = site.repository("photos")
    assert_refused(site.cli.run("repo", "set", "alice/photos", option, value), why)
    after = site.repository("photos")
    assert (after.compact_every, after.check_every, after.compact_append_only) == (
        before.compact_every,
        before.check_every,
        before.compact_append_only,
    )


def test_repo_set_stores_never_and_default(maintenance_site: MaintenanceSite) -> None:
    site = maintenance_site
    site.add("photos")
    site.cli.ok("repo", "set", "alice/photos", "--compact-every", "never", "--check-every", "2w")
    repo = site.repository("photos")
    assert (repo.compact_every, repo.check_every) == (0, 14 * 86400)
    site.cli.ok("repo", "set", "alice/photos", "--compact-every", "default")
    assert site.repository("photos").compact_every is None


def test_maintain_exits_1_when_a_step_fails_and_runs_the_rest(
    maintenance_site: MaintenanceSite,
) -> None:
    site = maintenance_site
    damaged, _ = site.initialised("damaged")
    site.initialised("sound")
    for name in ("damaged", "sound"):
        _age(site, name)
        site.cli.ok("repo", "set", f"alice/{name}", "--compact-every", "never")
    segments = [p for p in (damaged / "data").rglob("*") if p.is_file()]
    largest = max(segments, key=lambda p: p.stat().st_size)
    content = bytearray(largest.read_bytes())
    content[len(content) // 2] ^= 0xFF
    largest.write_bytes(bytes(content))
    result = site.cli.run("maintain")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stderr == "borghive: error: maintain: 1 step failed\n"
    assert "1 step ok, 1 failed, 0 skipped" in result.stdout
    assert f"damaged segments {largest.name}" in result.stdout
    assert site.repository("damaged").last_check_ok is False
    assert site.repository("sound").last_check_ok is True
