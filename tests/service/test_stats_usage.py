"""The disk walker on real borg repositories and awkward trees: allocated bytes against
``du``, apparent bytes against their definition (the sizes of the files, from lstat)."""

from __future__ import annotations

import math
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from borghive.walker.pool import measure_all, worker_command
from borghive.walker.worker import measure, parse_borg_config
from tests.harness.borg import apparent_size, borg, du
from tests.harness.environment import as_user, missing_service

NOBODY = tuple(as_user("--reuid=nobody", "--regid=nogroup", "--clear-groups"))


def _files(path: Path, *, data_only: bool = False) -> int:
    """Non-directories below ``path`` (regular files under data/ for segments)."""
    if data_only:
        return sum(len(files) for _, _, files in os.walk(path / "data"))
    return sum(len(files) for _, _, files in os.walk(path))


def test_borg_repository_matches_du(tmp_path: Path, make_borg_repo: Callable[[Path], Path]) -> None:
    repo = make_borg_repo(tmp_path / "repo")
    usage = measure(str(repo))
    assert usage.status == "ok"
    assert usage.bytes_used == du(repo)
    assert usage.apparent_bytes == apparent_size(repo)
    assert usage.file_count == _files(repo)
    assert usage.segment_count == _files(repo, data_only=True) >= 1
    assert (usage.initialised, usage.borg_version, usage.has_key) == (True, 1, True)
    assert usage.locked is False
    index = max(repo.glob("index.*"), key=lambda p: p.stat().st_mtime)
    assert usage.last_update == index.stat().st_mtime
    assert usage.last_access == repo.stat().st_mtime
    assert usage.unreadable == 0


def test_keyfile_repository_has_no_key_in_config(tmp_path: Path, borg_env: dict[str, str]) -> None:
    repo = tmp_path / "keyfile"
    borg("init", "--encryption=keyfile", str(repo), env=borg_env)
    (repo / "lock.exclusive").mkdir()  # as a client holding the lock leaves it
    usage = measure(str(repo))
    assert (usage.initialised, usage.borg_version, usage.has_key, usage.locked) == (
        True,
        1,
        False,
        True,
    )
    assert usage.bytes_used == du(repo)


def test_hard_links_count_once_and_sparse_files_by_blocks(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "data" / "0").mkdir(parents=True)
    original = tree / "data" / "0" / "1"
    original.write_bytes(os.urandom(200_000))
    os.link(original, tree / "data" / "0" / "2")
    os.link(original, tree / "linked-again")
    sparse = tree / "sparse"
    with sparse.open("wb") as handle:
        handle.truncate(50_000_000)
        handle.seek(10_000_000)
        handle.write(b"x" * 5000)
    (tree / "outside-link").symlink_to("/usr/bin")  # not followed
    usage = measure(str(tree))
    assert usage.bytes_used == du(tree)
    assert usage.apparent_bytes == apparent_size(tree)
    assert usage.apparent_bytes > 50_000_000 > usage.bytes_used
    assert usage.file_count == 3  # one of the three hard links, the sparse file, the symlink
    assert usage.segment_count == 2  # segments by name, links or not
    assert usage.initialised is False


def test_apparent_size_is_the_files_sizes_without_directories(tmp_path: Path) -> None:
    """Directories are not apparent size (du counted them before coreutils 9.2); a symlink
    is, by its own size; a hard-linked file counts once."""
    tree = tmp_path / "tree"
    (tree / "data" / "0").mkdir(parents=True)
    for index in range(5):
        (tree / "empty" / str(index)).mkdir(parents=True)
    (tree / "data" / "0" / "1").write_bytes(b"x" * 1234)
    os.link(tree / "data" / "0" / "1", tree / "again")
    (tree / "config").write_bytes(b"y" * 100)
    (tree / "link").symlink_to("data/0/1")  # 8 bytes of target name
    os.mkfifo(tree / "fifo")
    usage = measure(str(tree))
    assert usage.apparent_bytes == 1234 + 100 + len("data/0/1") == apparent_size(tree)
    assert usage.file_count == 4
    assert usage.bytes_used == du(tree)  # allocated bytes: as du counts them

    empty = tmp_path / "only-directories"
    (empty / "a" / "b" / "c").mkdir(parents=True)
    only = measure(str(empty))
    assert (only.apparent_bytes, only.file_count) == (0, 0)
    assert only.bytes_used == du(empty)  # 0 on tmpfs, whose directories take no blocks


def test_repository_directory_that_is_a_symlink_is_followed(
    tmp_path: Path, make_borg_repo: Callable[[Path], Path]
) -> None:
    real = make_borg_repo(tmp_path / "elsewhere" / "repo")
    link = tmp_path / "repo"
    link.symlink_to(real)
    usage = measure(str(link))
    assert usage.status == "ok"
    assert usage.bytes_used == du(link) == du(real) > 4096
    assert usage.apparent_bytes == apparent_size(link) == apparent_size(real)


def test_missing_and_not_a_directory(tmp_path: Path) -> None:
    assert measure(str(tmp_path / "absent")).status == "missing"
    (tmp_path / "file").write_text("x")
    assert measure(str(tmp_path / "file")).status == "error"


def test_unchanged_since_skips_the_walk(
    tmp_path: Path, make_borg_repo: Callable[[Path], Path]
) -> None:
    repo = make_borg_repo(tmp_path / "repo")
    later = time.time() + 60
    usage = measure(str(repo), since=later)
    assert usage.status == "unchanged"
    assert usage.bytes_used == 0 and usage.last_update is not None
    assert measure(str(repo), since=later - 3600).status == "ok"


def test_unreadable_directory_as_nobody_matches_du_as_nobody(world_readable: Path) -> None:
    if os.geteuid() != 0:
        missing_service("needs root to run the walker as nobody")
    tree = world_readable / "repo"  # outside pytest's private (0700) tmp_path: nobody enters
    (tree / "data" / "0").mkdir(parents=True)
    (tree / "data" / "0" / "1").write_bytes(os.urandom(100_000))
    secret = tree / "secret"
    secret.mkdir()
    (secret / "hidden").write_bytes(os.urandom(300_000))
    secret.chmod(0)
    tree.chmod(0o755)
    for directory in (tree, tree / "data", tree / "data" / "0"):
        directory.chmod(0o755)
    (tree / "data" / "0" / "1").chmod(0o644)

    [as_nobody] = measure_all([str(tree)], jobs=1, limit=30, command=worker_command(NOBODY))
    assert as_nobody.status == "ok"
    assert as_nobody.unreadable == 1
    assert as_nobody.problem is not None and "Permission denied" in as_nobody.problem
    assert as_nobody.bytes_used == du(tree, prefix=NOBODY)
    assert as_nobody.apparent_bytes == apparent_size(tree, skip=lambda path: path == secret)
    assert as_nobody.apparent_bytes == 100_000

    # Root bypasses the permission bits: the same tree is read whole, the hidden file too.
    [as_root] = measure_all([str(tree)], jobs=1, limit=30)
    assert as_root.unreadable == 0
    assert as_root.bytes_used == du(tree) > as_nobody.bytes_used
    assert as_root.file_count == as_nobody.file_count + 1


def test_hanging_repository_hits_the_time_limit_and_the_rest_is_measured(
    tmp_path: Path, make_borg_repo: Callable[[Path], Path]
) -> None:
    """A FIFO as ``config``: opening it blocks in the kernel like a stat on a dead mount;
    the walker's worker is killed and a fresh one measures the next repository."""
    hanging = tmp_path / "hanging"
    hanging.mkdir()
    os.mkfifo(hanging / "config")
    good = [make_borg_repo(tmp_path / f"good{i}") for i in range(3)]
    paths = [str(hanging), *(str(p) for p in good)]
    started = time.monotonic()
    results = {r.path: r for r in measure_all(paths, jobs=1, limit=1.5)}
    elapsed = time.monotonic() - started
    assert results[str(hanging)].status == "timeout"
    assert "1.5s" in (results[str(hanging)].problem or "")
    assert all(results[str(p)].status == "ok" for p in good)
    assert all(results[str(p)].bytes_used == du(p) for p in good)
    assert elapsed < 10
    # Nothing is left behind: no worker still waits on the FIFO.
    stuck = subprocess.run(
        ["pgrep", "-f", "borghive.walker.worker"], capture_output=True, text=True, check=False
    ).stdout.split()
    assert [pid for pid in stuck if _parent(pid) == os.getpid()] == []


def test_a_hang_is_blamed_on_the_hanging_repository_not_on_those_measured_before_it(
    tmp_path: Path, make_borg_repo: Callable[[Path], Path]
) -> None:
    """Replies are gathered for a few milliseconds before they are written: the ones
    measured just before a hang must still reach the parent, in the same batch."""
    before = [make_borg_repo(tmp_path / f"before{i}") for i in range(3)]
    hanging = tmp_path / "hanging"
    hanging.mkdir()
    os.mkfifo(hanging / "config")
    after = make_borg_repo(tmp_path / "after")
    paths = [*(str(p) for p in before), str(hanging), str(after)]
    results = {r.path: r for r in measure_all(paths, jobs=1, limit=1.0)}
    assert [results[str(p)].status for p in before] == ["ok", "ok", "ok"]
    assert results[str(hanging)].status == "timeout"
    assert results[str(after)].status == "ok"
    assert results[str(after)].bytes_used == du(after)


def _parent(pid: str) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return -1
    return int(fields[1]) if fields[0] != "Z" else -1


def test_parse_borg_config() -> None:
    text = "[repository]\nversion = 1\nkey = hqlhbGdv\n\n[other]\nkey =\n"
    assert parse_borg_config(text) == (1, True)
    assert parse_borg_config("[repository]\nversion = 2\nkey =\n") == (2, False)
    assert parse_borg_config("[repository]\n; key = x\nversion = x\n") == (None, False)
    assert parse_borg_config("not ini at all") == (None, False)


def test_a_worker_that_cannot_start_is_an_error_not_a_crash(tmp_path: Path) -> None:
    [result] = measure_all([str(tmp_path)], jobs=1, limit=5, command=[str(tmp_path / "nope")])
    assert result.status == "error"
    assert "worker failed" in (result.problem or "")


def test_the_lock_age_is_the_earliest_mtime_of_the_lock_files(
    tmp_path: Path, make_borg_repo: Callable[[Path], Path]
) -> None:
    repo = make_borg_repo(tmp_path / "repo")
    assert measure(str(repo)).lock_since is None
    assert measure(str(repo), since=math.inf).lock_since is None
    (repo / "lock.exclusive").mkdir()
    (repo / "lock.roster").write_text('{"exclusive": [["h@1", 7, 0]]}')
    os.utime(repo / "lock.exclusive", (1_000_000, 1_000_000))
    os.utime(repo / "lock.roster", (2_000_000, 2_000_000))
    walked, top = measure(str(repo)), measure(str(repo), since=math.inf)
    assert top.status == "unchanged" and walked.status == "ok"
    assert walked.lock_since == top.lock_since == 1_000_000
    assert walked.locked and top.locked
    # A shared lock alone (lock.roster): locked for the age, not "open" (exclusive).
    (repo / "lock.exclusive").rmdir()
    [through_pool] = list(measure_all([str(repo)], jobs=1, limit=5, since=math.inf))
    assert through_pool.lock_since == 2_000_000 and not through_pool.locked
