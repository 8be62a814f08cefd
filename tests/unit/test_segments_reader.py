"""The segment reader against real borg repositories: every entry as borg's own
``debug dump-repo-objs --ghost`` lists it, every transaction ending where borg's index.N
says, incremental reads equal to full ones, a killed client's entries left pending."""

from __future__ import annotations

import os
import re
import signal
import struct
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from borghive.segments.reader import (
    MAGIC,
    TAG_COMMIT,
    TAG_DELETE,
    TAG_PUT,
    Cursor,
    SegmentError,
    iter_entries,
    read_transactions,
    segment_path,
)
from tests.harness.borg import BORG, borg
from tests.harness.segments import dumped_entries, reader_entries


def _borg_entries(repo: Path, env: dict[str, str], cwd: Path) -> list[tuple[int, int, int, str]]:
    """(segment, offset, tag, id hex) of every entry, as borg itself reads them."""
    cwd.mkdir(exist_ok=True)
    listed = borg("debug", "dump-repo-objs", "--ghost", str(repo), env=env, cwd=cwd)
    return dumped_entries(listed, cwd)


def _our_entries(repo: Path) -> list[tuple[int, int, int, str]]:
    return reader_entries(repo)


def _index_transaction(repo: Path) -> int:
    (index,) = [p.name for p in repo.iterdir() if re.fullmatch(r"index\.\d+", p.name)]
    return int(index.split(".")[1])


@pytest.fixture
def repo(tmp_path: Path, borg_env: dict[str, str]) -> Path:
    path = tmp_path / "repo"
    borg("init", "--encryption=repokey", str(path), env=borg_env)
    return path


def _source(tmp_path: Path, name: str, size: int) -> Path:
    source = tmp_path / f"src-{name}"
    source.mkdir()
    (source / "data.bin").write_bytes(os.urandom(size))
    return source


def test_entries_and_transactions_agree_with_borg_through_a_repository_life(
    repo: Path, borg_env: dict[str, str], tmp_path: Path
) -> None:
    steps = [
        ("create", f"{repo}::a1", str(_source(tmp_path, "a1", 300_000))),
        ("create", f"{repo}::a2", str(_source(tmp_path, "a2", 200_000))),
        ("create", f"{repo}::a4", str(_source(tmp_path, "a4", 150_000))),
        ("delete", f"{repo}::a1"),
        ("prune", "--keep-last=1", str(repo)),
        ("compact", str(repo)),
        ("create", f"{repo}::a3", str(_source(tmp_path, "a3", 100_000))),
    ]
    cursor: Cursor | None = None
    seen: list[int] = []
    deleting: list[str] = []
    for step in steps:
        borg(*step, env=borg_env)
        assert _our_entries(repo) == _borg_entries(repo, borg_env, tmp_path / "dump"), step
        full = read_transactions(repo)
        assert full.transactions[-1].segment == _index_transaction(repo), step
        assert (full.pending_puts, full.pending_deletes) == (0, 0)
        incremental = read_transactions(repo, cursor)
        new = [t.segment for t in incremental.transactions]
        assert new and all(s > max(seen, default=-1) for s in new), step
        if step[0] != "compact":  # compaction removed segments the full read no longer sees
            assert [t.segment for t in full.transactions][-len(new) :] == new
        seen.extend(new)
        cursor = incremental.cursor
        # Only what deletes archives deletes objects (a create replaces the manifest).
        counts = [t.deletes for t in incremental.transactions]
        assert all(counts) if step[0] in ("delete", "prune") else not any(counts), (
            step,
            counts,
        )
        deleting.extend(step[0] for t in incremental.transactions if t.deletes)
    # Only delete and prune delete objects (compaction's own DELETEs are kept, rewritten);
    # the manifest that every commit rewrites is no deletion.
    assert {"delete", "prune"} <= set(deleting) <= {"delete", "prune", "compact"}


def test_a_killed_client_leaves_entries_pending_not_a_transaction(
    repo: Path, borg_env: dict[str, str], tmp_path: Path
) -> None:
    borg("create", f"{repo}::a1", str(_source(tmp_path, "a1", 50_000)), env=borg_env)
    before = read_transactions(repo)
    big = _source(tmp_path, "big", 0)
    for number in range(40):
        (big / f"f{number}").write_bytes(os.urandom(1_000_000))
    process = subprocess.Popen(
        [BORG, "create", "--checkpoint-interval", "3600", f"{repo}::a2", str(big)],
        env=borg_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while read_transactions(repo, before.cursor).pending_puts < 5:
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    after = read_transactions(repo, before.cursor)
    assert after.transactions == [] and after.pending_puts >= 5
    assert after.cursor.segment == before.cursor.segment
    assert read_transactions(repo).transactions == before.transactions


def test_bytes_read_are_headers_not_payloads(
    repo: Path, borg_env: dict[str, str], tmp_path: Path
) -> None:
    borg(
        "create",
        "--compression=none",
        f"{repo}::a1",
        str(_source(tmp_path, "a1", 5_000_000)),
        env=borg_env,
    )
    result = read_transactions(repo)
    on_disk = sum(p.stat().st_size for p in (repo / "data").rglob("*") if p.is_file())
    assert result.cursor.bytes_read * 100 < on_disk
    assert (
        result.transactions[-1].bytes_added >= 5_000_000
        or sum(t.bytes_added for t in result.transactions) >= 5_000_000
    )


def _segment(tmp_path: Path, body: bytes) -> Path:
    path = tmp_path / "data" / "0" / "1"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(MAGIC + body)
    return path


def _commit() -> bytes:
    return struct.pack("<IIB", 0, 9, TAG_COMMIT)


def test_impossible_segments_are_refused_naming_the_offset(tmp_path: Path) -> None:
    with pytest.raises(SegmentError, match="bad magic"):
        bad = tmp_path / "bad"
        bad.write_bytes(b"NOT_BORG" + _commit())
        list(iter_entries(bad))
    with pytest.raises(SegmentError, match="unknown entry tag 9 at offset 8"):
        list(iter_entries(_segment(tmp_path, struct.pack("<IIB", 0, 9, 9))))
    with pytest.raises(SegmentError, match="impossible entry size 12 at offset 8"):
        list(iter_entries(_segment(tmp_path, struct.pack("<IIB", 0, 12, TAG_PUT) + bytes(40))))


def test_a_cut_off_last_entry_ends_the_read(tmp_path: Path) -> None:
    put = struct.pack("<IIB", 0, 41 + 100, TAG_PUT) + bytes(32) + bytes(100)
    path = _segment(tmp_path, put + _commit() + put[:60])
    assert [e.tag for e in iter_entries(path)] == [TAG_PUT, TAG_COMMIT]
    result = read_transactions(tmp_path)
    assert [(t.puts, t.bytes_added) for t in result.transactions] == [(1, 141)]
    assert result.pending_puts == 0


def test_a_fifo_as_a_segment_is_refused_without_waiting(tmp_path: Path) -> None:
    path = tmp_path / "data" / "0" / "1"
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    with pytest.raises(SegmentError, match="not a regular file"):
        list(iter_entries(path))


@settings(max_examples=200)
@given(st.binary(max_size=400))
def test_any_bytes_are_entries_or_one_segment_error(body: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "1"
        path.write_bytes(MAGIC + body)
        try:
            entries = list(iter_entries(path))
        except SegmentError:
            return
        assert all(e.offset + e.size <= len(body) + len(MAGIC) for e in entries)


def _put(object_id: bytes) -> bytes:
    return struct.pack("<IIB", 0, 41 + 10, TAG_PUT) + object_id + bytes(10)


def _put(object_id: bytes, size: int = 10) -> bytes:
    return struct.pack("<IIB", 0, 41 + size, TAG_PUT) + object_id + bytes(size)


def _delete(object_id: bytes) -> bytes:
    return struct.pack("<IIB", 0, 41, TAG_DELETE) + object_id


def test_a_replaced_object_is_not_a_deletion(tmp_path: Path) -> None:
    manifest, chunk = bytes(31) + b"\x01", bytes(31) + b"\x02"
    _segment(
        tmp_path,
        _delete(manifest) + _put(manifest) + _commit()  # borg create: the manifest replaced
        + _delete(chunk) + _delete(manifest) + _put(manifest) + _commit()  # borg delete
        + _delete(manifest) + _commit(),
    )  # fmt: skip
    result = read_transactions(tmp_path)
    assert [(t.puts, t.deletes) for t in result.transactions] == [(1, 0), (1, 1), (0, 1)]


def test_creates_delete_nothing_and_a_delete_does(
    repo: Path, borg_env: dict[str, str], tmp_path: Path
) -> None:
    """borg replaces the manifest at every create (a DELETE, then a PUT of its id): only
    the delete of an archive is a transaction that deletes."""
    borg("create", f"{repo}::a1", str(_source(tmp_path, "a1", 100_000)), env=borg_env)
    borg("create", f"{repo}::a2", str(_source(tmp_path, "a2", 100_000)), env=borg_env)
    created = read_transactions(repo)
    raw_deletes = [
        e
        for t in created.transactions[1:]
        for n in range(t.first_segment, t.segment + 1)
        if segment_path(repo, n).exists()
        for e in iter_entries(segment_path(repo, n))
        if e.tag == TAG_DELETE
    ]
    assert raw_deletes, "borg replaced the manifest with a DELETE and a PUT"
    assert [t.deletes for t in created.transactions] == [0, 0, 0]
    borg("delete", f"{repo}::a1", env=borg_env)
    deleted = read_transactions(repo, created.cursor).transactions
    assert len(deleted) == 1 and deleted[0].deletes > 0


@given(st.integers(min_value=0, max_value=len(MAGIC) - 1))
def test_a_segment_still_being_started_has_no_entries_yet(length: int) -> None:
    """borg creates a segment file, then writes its magic: a reader in between sees an
    empty file or part of the magic, which is not an error."""
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "data" / "0" / "1"
        path.parent.mkdir(parents=True)
        path.write_bytes(MAGIC[:length])
        assert list(iter_entries(path)) == []
        assert read_transactions(Path(directory)).transactions == []
        path.write_bytes(b"X" + MAGIC[1 : max(length, 1)])
        with pytest.raises(SegmentError, match="bad magic"):
            list(iter_entries(path))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["put", "delete", "overwrite"]), st.integers(0, 5))))
def test_an_overwrite_is_a_put_not_a_delete(steps: list[tuple[str, int]]) -> None:
    """borg rewrites an object (the manifest at every commit) as DELETE id directly followed
    by PUT id: one put; any other DELETE is a deletion (ids of the deletes differ from the
    puts' so that no plain pair forms an overwrite by chance)."""
    import tempfile

    body, puts, deletes = b"", 0, 0
    for what, number in steps:
        if what == "put":
            body, puts = body + _put(bytes([number]) * 32), puts + 1
        elif what == "delete":
            body, deletes = body + _delete(bytes([100 + number]) * 32), deletes + 1
        else:
            object_id = bytes([200 + number]) * 32
            body, puts = body + _delete(object_id) + _put(object_id), puts + 1
    with tempfile.TemporaryDirectory() as directory:
        _segment(Path(directory), body + _commit())
        [transaction] = read_transactions(Path(directory)).transactions
    assert (transaction.puts, transaction.deletes) == (puts, deletes)
