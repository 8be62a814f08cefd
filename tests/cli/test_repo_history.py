"""repo history and the history recorder behind it: transactions read from real borg
repositories into the store, incrementally, attributed where the store knows the session
or maintenance run, rolled-back transactions noticed, deleting transactions marked."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

from borghive.rules.times import utcnow
from borghive.segments.reader import read_transactions, segment_numbers, segment_path
from borghive.service.history.record import record_history
from borghive.store import open_store
from borghive.store.models import (
    BorgSession,
    MaintenanceRun,
    Repository,
    RepoTransaction,
    SshKey,
)
from tests.cli.helpers import assert_refused
from tests.harness.borg import borg
from tests.harness.cli import Cli


def _path(cli: Cli) -> Path:
    with open_store(cli.config.store, readonly=True):
        repo = Repository.get(Repository.name == "photos")
        home = cli.config.repos.root / repo.repo_user
    home.mkdir(parents=True, exist_ok=True)  # what pam_mkhomedir does at the first login
    return home / "photos"


def _create(path: Path, env: dict[str, str], archive: str, tmp_path: Path) -> None:
    source = tmp_path / f"src-{archive}"
    source.mkdir()
    (source / "data.bin").write_bytes(os.urandom(100_000))
    borg("create", f"{path}::{archive}", str(source), env=env)


def _stored(cli: Cli) -> list[tuple[int, int, int, str | None]]:
    with open_store(cli.config.store, readonly=True):
        return [
            (t.segment, t.puts, t.deletes, t.made_by)
            for t in RepoTransaction.select()
            .where(RepoTransaction.rolled_back.is_null())
            .order_by(RepoTransaction.segment)
        ]


def test_history_is_read_once_and_then_incrementally(
    populated: Cli, borg_env: dict[str, str], tmp_path: Path
) -> None:
    path = _path(populated)
    borg("init", "--encryption=repokey", str(path), env=borg_env)
    _create(path, borg_env, "a1", tmp_path)
    first = populated.json("repo", "history", "alice/photos")
    on_disk = read_transactions(path).transactions
    assert [t["transaction"] for t in first["transactions"]] == [t.segment for t in on_disk][::-1]
    assert first["update"]["added"] == len(on_disk)
    _create(path, borg_env, "a2", tmp_path)
    second = populated.json("repo", "history", "alice/photos")
    assert second["update"]["added"] == 1
    # Only the cursor's segment and those after it are opened.
    assert second["update"]["segments_read"] == len(segment_numbers(path, on_disk[-1].segment))
    assert second["update"]["segments_read"] < len(segment_numbers(path))
    again = populated.json("repo", "history", "alice/photos")
    assert again["update"]["added"] == 0
    assert len(again["transactions"]) == len(on_disk) + 1
    borg("delete", f"{path}::a1", env=borg_env)
    deleted = populated.json("repo", "history", "alice/photos")["transactions"][0]
    assert deleted["deleting"] and deleted["deletes"] > 0
    text = populated.ok("repo", "history", "alice/photos").stdout
    assert "DELETES" in text


def test_commits_are_attributed_to_maintenance_or_the_session(
    populated: Cli, borg_env: dict[str, str], tmp_path: Path
) -> None:
    path = _path(populated)
    borg("init", "--encryption=repokey", str(path), env=borg_env)
    with open_store(populated.config.store):
        repo = Repository.get(Repository.name == "photos")
        key = SshKey.get(SshKey.name == "laptop")
        started = utcnow() - dt.timedelta(seconds=5)
        BorgSession.create(
            repository=repo, key=key, key_name="laptop", key_fingerprint=key.fingerprint,
            source="192.0.2.7", host="here", pid=1, program="borg", started=started,
        )  # fmt: skip
    _create(path, borg_env, "a1", tmp_path)
    with open_store(populated.config.store):
        BorgSession.update(ended=utcnow()).execute()
        record_history(Repository.get(Repository.name == "photos"), path)
        MaintenanceRun.create(
            repository=repo, action="compact", host="here", pid=1, started=utcnow()
        )
    borg("compact", str(path), env=borg_env)
    _create(path, borg_env, "a2", tmp_path)  # inside the open maintenance window too
    shown = populated.json("repo", "history", "alice/photos")["transactions"]
    newest, *_, oldest = shown
    assert (oldest["made_by"], oldest["key"], oldest["source"]) == (
        "client", "laptop", "192.0.2.7",
    )  # fmt: skip
    assert oldest["append_only"] is False
    assert newest["made_by"] == "maintenance"


def test_a_rollback_by_hand_is_noticed_and_numbers_are_reused(
    populated: Cli, borg_env: dict[str, str], tmp_path: Path
) -> None:
    path = _path(populated)
    borg("init", "--encryption=repokey", str(path), env=borg_env)
    _create(path, borg_env, "a1", tmp_path)
    populated.json("repo", "history", "alice/photos")
    kept = read_transactions(path).transactions[-1]
    _create(path, borg_env, "a2", tmp_path)
    populated.json("repo", "history", "alice/photos")
    for number in segment_numbers(path, kept.segment + 1):
        segment_path(path, number).unlink()
    for name in os.listdir(path):
        if name.split(".")[0] in ("index", "hints", "integrity"):
            (path / name).unlink()
    repair = {**borg_env, "BORG_CHECK_I_KNOW_WHAT_I_AM_DOING": "YES"}
    borg("check", "--repository-only", "--repair", str(path), env=repair)
    populated.json("repo", "history", "alice/photos")
    assert _stored(populated)[-1][0] <= read_transactions(path).transactions[-1].segment
    with open_store(populated.config.store, readonly=True):
        assert RepoTransaction.select().where(RepoTransaction.rolled_back.is_null(False)).count()
    # What a client does after a rollback: forget the cache and the manifest timestamp.
    borg("delete", "--cache-only", str(path), env=borg_env)
    for stamp in Path(borg_env["BORG_BASE_DIR"]).rglob("manifest-timestamp"):
        stamp.unlink()
    _create(path, borg_env, "a3", tmp_path)
    populated.json("repo", "history", "alice/photos")
    on_disk = [t.segment for t in read_transactions(path).transactions]
    assert [segment for segment, *_ in _stored(populated)] == on_disk


def test_history_of_a_repository_not_on_disk_shows_the_store(populated: Cli) -> None:
    shown = populated.json("repo", "history", "alice/photos")
    assert shown["update"] is None and shown["transactions"] == []
    assert "not on this host's disk" in populated.ok("repo", "history", "alice/photos").stdout


def test_history_refuses_bad_input(populated: Cli) -> None:
    assert_refused(populated.run("repo", "history", "alice/nothing"), "nothing")
    assert_refused(
        populated.run("repo", "history", "alice/photos", "--since", "forever"),
        "invalid duration",
    )
    shutil.rmtree(populated.config.repos.root, ignore_errors=True)


def test_stats_collect_reads_the_history_after_its_walk(
    populated: Cli, borg_env: dict[str, str], tmp_path: Path
) -> None:
    """The daemon's refresh after an update and the daily ``stats collect`` both run the
    collection, which reads what is new in the segments: no ``repo history`` needed."""
    path = _path(populated)
    borg("init", "--encryption=repokey", str(path), env=borg_env)
    _create(path, borg_env, "a1", tmp_path)
    populated.ok("stats", "collect")
    on_disk = [t.segment for t in read_transactions(path).transactions]
    assert [segment for segment, *_ in _stored(populated)] == on_disk
    populated.ok("stats", "collect")  # nothing new: nothing stored twice
    assert [segment for segment, *_ in _stored(populated)] == on_disk
