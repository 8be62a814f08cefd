"""borg's locks and the processes behind them, read as borghive reads them: real borg
(``borg with-lock``) holding the lock, real processes with the markers in /proc."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from borghive.sessions.locks import (
    LockHolder,
    holder_state,
    is_locked,
    lock_holders,
    parse_holder_name,
    this_host_id,
)
from borghive.sessions.procs import marked_processes, process_info
from tests.harness.borg import BORG


@pytest.fixture
def held(
    make_borg_repo: Callable[[Path], Path], borg_env: dict[str, str], tmp_path: Path
) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    """A repository whose exclusive lock a real ``borg with-lock … sleep`` holds."""
    repo = make_borg_repo(tmp_path / "repo")
    process = subprocess.Popen(
        [BORG, "with-lock", str(repo), "sleep", "60"], env=borg_env, stdout=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while not lock_holders(repo):
        assert process.poll() is None and time.monotonic() < deadline, "borg took no lock"
        time.sleep(0.05)
    yield repo, process
    process.kill()
    process.wait()


def test_the_holder_of_a_real_borg_lock_is_read(
    held: tuple[Path, subprocess.Popen[bytes]],
) -> None:
    repo, process = held
    holders = lock_holders(repo)
    assert [(h.host, h.pid, h.kind) for h in holders] == [
        (this_host_id(), process.pid, "exclusive")
    ]
    assert holder_state(holders[0]) == "alive"
    assert (repo / "lock.exclusive" / holders[0].name).exists()


def test_a_killed_holder_reads_as_dead_and_another_host_as_elsewhere(
    held: tuple[Path, subprocess.Popen[bytes]],
) -> None:
    repo, process = held
    process.kill()
    process.wait()
    (holder,) = lock_holders(repo)  # borg had no chance to remove it
    assert holder_state(holder) == "dead"
    assert holder_state(holder, host_id="other.example.org@1") == "elsewhere"


def test_an_unlocked_repository_has_no_holders(
    make_borg_repo: Callable[[Path], Path], tmp_path: Path
) -> None:
    repo = make_borg_repo(tmp_path / "repo")
    assert lock_holders(repo) == [] and not is_locked(repo)


def test_roster_entries_are_read_and_junk_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "lock.roster").write_text(
        json.dumps({"shared": [["h@1", 12, 255], ["bad"], ["h@1", "13", 0]], "exclusive": []})
    )
    (tmp_path / "lock.exclusive").mkdir()
    (tmp_path / "lock.exclusive" / "h@1.12-ff").touch()
    (tmp_path / "lock.exclusive" / "not a holder").touch()
    assert lock_holders(tmp_path) == [LockHolder("h@1", 12, 255, "exclusive")]
    (tmp_path / "lock.roster").write_text("{" * 100_000)
    assert lock_holders(tmp_path) == [LockHolder("h@1", 12, 255, "exclusive")]


def test_a_fifo_as_the_roster_is_not_waited_on(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "lock.roster")
    assert lock_holders(tmp_path) == []


@given(st.text(max_size=80))
def test_holder_names_parse_or_are_refused(name: str) -> None:
    parsed = parse_holder_name(name)
    if parsed is not None:
        host, pid, thread = parsed
        assert LockHolder(host, pid, thread, "exclusive").name.split(".")[-1].split("-")[0] == str(
            pid
        )
        assert host and pid >= 0 and thread >= 0


def test_holder_names_round_trip() -> None:
    holder = LockHolder("store-1.example.org@8796758", 4321, 0x7F12AB, "exclusive")
    assert parse_holder_name(holder.name) == ("store-1.example.org@8796758", 4321, 0x7F12AB)


def test_markers_and_source_are_read_from_a_process_environment() -> None:
    env = {
        "PATH": os.environ["PATH"],
        "BORGHIVE_KEY": "SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        "SSH_CONNECTION": "127.0.0.2 51234 127.0.0.1 22",
    }
    before = time.time()
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=env)
    try:
        deadline = time.monotonic() + 10
        while (info := process_info(process.pid)) is None or info.key_fingerprint is None:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert info.key_fingerprint == env["BORGHIVE_KEY"]
        assert (info.source, info.source_port, info.maintenance) == ("127.0.0.2", 51234, None)
        assert info.uid == os.getuid() and info.is_client
        assert before - 2 <= info.started <= time.time() + 1
        assert process.pid in {p.pid for p in marked_processes({os.getuid()})}
        assert process.pid not in {p.pid for p in marked_processes({os.getuid() + 1})}
    finally:
        process.kill()
        process.wait()
    assert process_info(process.pid) is None
