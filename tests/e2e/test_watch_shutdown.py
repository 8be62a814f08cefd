"""Stopping the installed ``borghive watch`` (a subprocess, real inotify, SQLite store) while
another process holds the store's write lock: the stop ends within its bound, every event
is in the spool, the next start writes each once; an unwritable spool exits 1; a directory
the daemon may not read is reported as a permission problem."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from borghive.config import Config
from borghive.service.events.writer import EVENT_KINDS
from borghive.watch.daemon import DRAIN_LIMIT, SHUTDOWN_GRACE, WRITE_WAIT
from borghive.watch.spool import read_spool
from tests.harness.config import toml_text
from tests.harness.environment import as_user
from tests.harness.watch import (
    StoreReader,
    WatchProcess,
    add_repository,
    locked_by_another_process,
    wait_for,
    watch_toml,
)

pytestmark = pytest.mark.e2e

# What the stop may take at most (daemon.py), and systemd's TimeoutStopSec in the unit.
BOUND = WRITE_WAIT + DRAIN_LIMIT + SHUTDOWN_GRACE + 5.0
UNIT = Path(__file__).parents[2] / "etc" / "systemd" / "borghive-watch.service"


def _repository(config: Config, owner: str) -> tuple[str, Path]:
    """A repository in the store and on disk before the daemon starts (no events)."""
    repo_user = add_repository(config, owner, "laptop")
    path = config.repos.root / repo_user / "laptop"
    (path / "data").mkdir(parents=True)
    for entry in ("README", "config", "index.1", "hints.1", "integrity.1"):
        (path / entry).write_text("x")
    return repo_user, path


def _config_file(tmp_path: Path, config: Config, busy_timeout: float, spool: Path) -> Path:
    path = tmp_path / "watch.toml"
    text = watch_toml(config, busy_timeout=busy_timeout)
    text = text.replace(toml_text({"watch": {"spool": str(config.watch.spool)}}), "")
    path.write_text(text + toml_text({"watch": {"spool": str(spool)}}))
    return path


def _stop_with_a_burst(process: WatchProcess, path: Path, count: int) -> tuple[int, float]:
    """Freeze the daemon, make ``count`` commits (queued in the kernel), SIGTERM, thaw;
    returns the exit status and how long the stop took."""
    process.signal(signal.SIGSTOP)
    for number in range(2, count + 2):
        (path / f"index.{number}").write_text("x")
    started = time.monotonic()
    process.signal(signal.SIGTERM)
    process.signal(signal.SIGCONT)
    code = process.stop(timeout=60)
    return code, time.monotonic() - started


def test_sigterm_with_the_store_locked_spools_every_event_and_the_next_start_writes_them_once(
    tmp_path: Path, sqlite_store: Config, reader: StoreReader
) -> None:
    assert int(UNIT.read_text().split("TimeoutStopSec=")[1].split()[0]) > BOUND
    repo_user, path = _repository(sqlite_store, "alice")
    spool = sqlite_store.watch.spool
    config_file = _config_file(tmp_path, sqlite_store, 60.0, spool)  # busy timeout > unit's
    process = WatchProcess(config_file, tmp_path / "first.log")
    with locked_by_another_process(reader.path):
        code, took = _stop_with_a_burst(process, path, 150)
    log = process.text()
    assert took < BOUND, f"stop took {took:.1f} s\n{log}"
    assert code == 0, log
    assert "150 events kept in the spool" in log, log
    assert "Traceback" not in log
    spooled = read_spool(spool, EVENT_KINDS)
    assert [(e.kind, e.detail) for e in spooled] == [("updated", "1 commit")] * 150
    assert reader.events(repo_user) == []

    second = WatchProcess(config_file, tmp_path / "second.log")
    wait_for(lambda: "replayed" in second.text(), what="the spool replayed")
    assert second.stop() == 0, second.text()
    assert not spool.exists()
    rows = reader.event_rows(repo_user)
    assert [(kind, detail) for kind, _, detail in rows] == [("updated", "1 commit")] * 150
    assert [time_ for _, time_, _ in rows] == [str(e.time) for e in spooled]  # observed times


def test_a_spool_that_cannot_be_written_exits_1_and_says_how_many_events_were_lost(
    tmp_path: Path, sqlite_store: Config, reader: StoreReader
) -> None:
    _, path = _repository(sqlite_store, "bob")
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    config_file = _config_file(tmp_path, sqlite_store, 0.5, blocker / "watch.spool")
    process = WatchProcess(config_file, tmp_path / "watch.log")
    with locked_by_another_process(reader.path):
        code, took = _stop_with_a_burst(process, path, 5)
    log = process.text()
    assert code == 1, log
    assert took < BOUND
    assert f"cannot write the spool {blocker}/watch.spool" in log, log
    assert "5 events lost" in log
    assert "Traceback" not in log


def test_a_directory_it_may_not_read_is_a_permission_problem_not_the_watch_limit(
    tmp_path: Path, sqlite_store: Config, watch_config_file: Path
) -> None:
    """root without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH (as on a root-squashed mount)
    cannot read a home of mode 0700 owned by someone else."""
    home = sqlite_store.repos.root / "rclosed1"
    home.mkdir(mode=0o700)
    os.chown(home, 65534, 65534)
    prefix = tuple(as_user("--bounding-set=-dac_override,-dac_read_search"))
    process = WatchProcess(watch_config_file, tmp_path / "watch.log", prefix=prefix)
    try:
        log = process.text()
        assert f"cannot watch {home}: permission denied" in log, log
        assert "max_user_watches" not in log
    finally:
        assert process.stop() == 0, process.text()
