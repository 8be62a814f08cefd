"""The segment reader after a ``borg create`` killed (SIGKILL) after a checkpoint, for
each borg series (1.2 and 1.4): the checkpoint is a committed transaction (the one borg's
index is at, the one ``borg list`` shows as ``.checkpoint``), everything written after it
is pending, and every entry is the one ``borg debug dump-repo-objs --ghost`` lists."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from borghive.segments.reader import (
    TAG_COMMIT,
    TAG_DELETE,
    TAG_PUT,
    read_transactions,
)
from tests.harness.borg import BorgBinary
from tests.harness.segments import dumped_entries, reader_entries

pytestmark = pytest.mark.e2e


@pytest.fixture(params=["1.2", "1.4"])
def series_borg(
    request: pytest.FixtureRequest, debian_borg: BorgBinary, other_borg: BorgBinary
) -> BorgBinary:
    (found,) = [b for b in (debian_borg, other_borg) if b.series == request.param]
    return found


def _run(
    binary: BorgBinary, environment: dict[str, str], *args: str, cwd: Path
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(binary.path), *args],
        env=environment,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


def _borg_entries(
    binary: BorgBinary, environment: dict[str, str], repo: Path, cwd: Path
) -> list[tuple[int, int, int, str]]:
    """(segment, offset, tag, id hex) of every entry, as borg itself reads them."""
    cwd.mkdir(exist_ok=True)
    listed = _run(binary, environment, "debug", "dump-repo-objs", "--ghost", str(repo), cwd=cwd)
    return dumped_entries(listed, cwd)


def _our_entries(repo: Path) -> list[tuple[int, int, int, str]]:
    return reader_entries(repo)


def test_a_checkpoint_is_a_transaction_and_the_killed_tail_pending(
    series_borg: BorgBinary, tmp_path: Path
) -> None:
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "BORG_BASE_DIR": str(tmp_path / "base"),
        "BORG_PASSPHRASE": "checkpoint",
    }
    repo = tmp_path / "repo"
    _run(series_borg, environment, "init", "--encryption=repokey", str(repo), cwd=tmp_path)
    small = tmp_path / "small"
    small.mkdir()
    (small / "a.bin").write_bytes(os.urandom(50_000))
    _run(series_borg, environment, "create", f"{repo}::a1", str(small), cwd=tmp_path)
    before = read_transactions(repo)
    # Fed through stdin, slowly, so the create is still running after its checkpoint
    # whatever the machine's speed (borg checkpoints inside a file too).
    process = subprocess.Popen(
        [str(series_borg.path), "create", "--checkpoint-interval", "1", f"{repo}::a2", "-"],
        env=environment,
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdin is not None
    deadline = time.monotonic() + 90
    while True:
        seen = read_transactions(repo, before.cursor)
        if seen.transactions and seen.pending_puts >= 3:
            break  # a checkpoint committed, and more written after it
        assert process.poll() is None, "borg create ended"
        assert time.monotonic() < deadline, "no checkpoint with entries after it"
        process.stdin.write(os.urandom(1_000_000))
        process.stdin.flush()
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stdin.close()

    killed = read_transactions(repo, before.cursor)
    assert killed.transactions and killed.pending_puts >= 3
    checkpoint = killed.transactions[-1]
    (index,) = [p.name for p in repo.iterdir() if re.fullmatch(r"index\.\d+", p.name)]
    assert int(index.split(".")[1]) == checkpoint.segment  # borg's own last commit
    full = read_transactions(repo)
    assert full.transactions == before.transactions + killed.transactions
    assert (full.pending_puts, full.pending_bytes) == (killed.pending_puts, killed.pending_bytes)
    ours = _our_entries(repo)
    tail = [e for e in ours if (e[0], e[1]) > (checkpoint.segment, checkpoint.offset)]
    assert [e[2] for e in tail].count(TAG_PUT) == killed.pending_puts
    assert [e[2] for e in tail].count(TAG_DELETE) >= killed.pending_deletes  # less overwrites
    assert TAG_COMMIT not in {e[2] for e in tail}

    # borg reads every entry, the killed tail too, as the reader does.
    assert _borg_entries(series_borg, environment, repo, tmp_path / "dump") == ours
    listed = _run(
        series_borg,
        environment,
        "list",
        "--short",
        "--consider-checkpoints",
        str(repo),
        cwd=tmp_path,
    )
    assert listed.stdout.split() == ["a1", "a2.checkpoint"]
    assert read_transactions(repo).transactions == full.transactions
