"""The transaction history and rollback, against their targets, in one run.

1. Incremental read: a real borg repository (``--compression none``, random data) gets
   one small archive, its history is recorded, then a ``--size-gb`` (2) archive is
   created; ``record_history`` after the cursor is timed in a child process, which
   reports its own peak RSS (VmHWM), warm and with the segments
   dropped from the page cache (``posix_fadvise DONTNEED``, our files only). Targets:
   < 0.2 s and < 30 MB RSS.
2. First full read of a ``--synthetic-gb`` (20) repository of ``--objects`` (50,000)
   objects, built in borg's segment format with holes for payloads
   (``benchmarks/synthetic_segments.py``): time, and bytes read (the reader's count and
   the kernel's ``rchar``), against the repository's size. borg would refuse the
   synthetic repository (zero crc32s), so the format is validated instead by rebuilding
   a small real repository the same way and comparing the reader's output on both.
3. As root: a real repository of about ``--segments`` (10,000) segments
   (``max_segment_size`` 4096 in its config and a fixed 4 KiB chunker, so each object is a
   segment), its last ``--back`` (100) written by a second create; ``repo rollback --to``
   the first create's transaction (then ``--undo``), ``--rounds`` times, against ``borg
   check --repository-only`` alone. Target: rollback < 1 s beyond borg check.

    .venv/bin/python -m benchmarks.bench_history [--size-gb 2] [--synthetic-gb 20]
        [--objects 50000] [--segments 10000] [--back 100] [--rounds 3] [--only PART]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks import synthetic_segments as synthetic
from borghive.segments.reader import Cursor, read_transactions
from borghive.service.rollback.plan import is_index_file

VENV_BIN = Path(sys.executable).parent
BORGHIVE = str(VENV_BIN / "borghive")
BORG = shutil.which("borg") or "/usr/bin/borg"
UID, GID = 299_123, 200_000  # a uid no test or other benchmark uses
MB = 1024 * 1024


def _borg(*args: str, home: Path, user: int | None = None) -> None:
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(home), "BORG_BASE_DIR": str(home)}
    environment["USER"] = "bench"
    as_user = {"user": user, "group": GID, "extra_groups": []} if user is not None else {}
    done = subprocess.run(
        [BORG, *args], env=environment, capture_output=True, text=True, check=False, **as_user
    )  # type: ignore[call-overload]
    if done.returncode != 0:
        raise SystemExit(f"borg {args[:2]} failed: {done.stderr[-500:]}")


def _config(scratch: Path, root: Path) -> Path:
    config = scratch / "borghive.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{scratch}/borghive.db"\n[repos]\nroot = "{root}"\n'
        f'host = "backup.example.org"\ngid = {GID}\n[borg]\npath = "{BORG}"\n'
    )
    subprocess.run([BORGHIVE, "--config", str(config), "migrate"], check=True, capture_output=True)
    from borghive.config_load import load_config
    from borghive.store import open_store, write_transaction
    from borghive.store.models import Repository, User

    with open_store(load_config(config).store), write_transaction():
        owner = User.create(name="alice")
        Repository.create(
            owner=owner,
            name="photos",
            repo_user="rbench01",
            uid_number=UID,
            host="backup.example.org",
        )
    return config


def _drop_cache(repository: Path) -> None:
    for directory, _, names in os.walk(repository):
        for name in names:
            fd = os.open(Path(directory, name), os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def _child(kind: str, *args: str) -> dict[str, float]:
    command = [sys.executable, "-m", "benchmarks.bench_history", "--child", kind, *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child {kind} failed: {done.stderr[-800:]}")
    result: dict[str, float] = json.loads(done.stdout)
    return result


def child_main(kind: str, args: list[str]) -> None:
    """In the child: the read, timed, with the process's peak RSS and the kernel's I/O
    counts. The peak is VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over
    execve, so a child forked from this (large) benchmark would report the parent's."""

    def io() -> dict[str, int]:
        pairs = (line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
        return {name: int(value) for name, value in pairs}

    def peak_kb() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise SystemExit("no VmHWM in /proc/self/status")

    if kind == "record":
        from borghive.config_load import load_config
        from borghive.service.history.record import record_history
        from borghive.store import open_store
        from borghive.store.models import Repository

        config, path = load_config(Path(args[0])), Path(args[1])
        with open_store(config.store):
            repository = Repository.get(Repository.name == "photos")
            before, io_before = peak_kb(), io()
            started = time.perf_counter()
            update = record_history(repository, path)
            seconds = time.perf_counter() - started
        added, bytes_read = update.added, update.bytes_read
    else:
        cursor = Cursor(int(args[1]), int(args[2])) if len(args) == 3 else None
        before, io_before = peak_kb(), io()
        started = time.perf_counter()
        result = read_transactions(Path(args[0]), cursor)
        seconds = time.perf_counter() - started
        added, bytes_read = len(result.transactions), result.cursor.bytes_read
    after = io()
    print(
        json.dumps({
            "seconds": seconds,
            "maxrss_mb": peak_kb() / 1024,
            "rss_before_mb": before / 1024,
            "added": added,
            "bytes_read": bytes_read,
            "rchar": after["rchar"] - io_before["rchar"],
        })
    )  # fmt: skip


def _fill(path: Path, size: int) -> None:
    with path.open("wb") as handle:
        for _ in range(size // (64 * MB)):
            handle.write(os.urandom(64 * MB))
        handle.write(os.urandom(size % (64 * MB)))


def incremental(scratch: Path, size_gb: float) -> None:
    root = scratch / "repos"
    path = root / "rbench01" / "photos"
    path.parent.mkdir(parents=True)
    config = _config(scratch, root)
    source = scratch / "source"
    source.mkdir()
    _fill(source / "small", 1 * MB)
    _borg("init", "-e", "none", str(path), home=scratch)
    _borg("create", "--compression", "none", f"{path}::small", str(source), home=scratch)
    first = _child("record", str(config), str(path))
    cursor = read_transactions(path).cursor
    size = int(size_gb * 1024 * MB)
    _fill(source / "big", size)
    started = time.perf_counter()
    _borg("create", "--compression", "none", f"{path}::big", str(source), home=scratch)
    created = time.perf_counter() - started
    (source / "big").unlink()
    # Warm first: the cursor moves only once the read is stored, so copy the store.
    shutil.copy(scratch / "borghive.db", scratch / "before.db")
    warm = _child("record", str(config), str(path))
    shutil.copy(scratch / "before.db", scratch / "borghive.db")
    reader = _child("read", str(path), str(cursor.segment), str(cursor.offset))
    _drop_cache(path)
    cold = _child("record", str(config), str(path))
    print(
        f"1. incremental read after a {size / 2**30:g} GiB borg create "
        f"(create took {created:.1f} s; first read {first['added']:.0f} transactions)"
    )
    for name, run in (("record_history, warm", warm), ("record_history, cold", cold),
                      ("the reader alone, warm", reader)):  # fmt: skip
        print(
            f"   {name}: {run['seconds']:.4f} s (ratio to 0.2 s: {run['seconds'] / 0.2:.3f}), "
            f"max RSS {run['maxrss_mb']:.1f} MB (ratio to 30 MB: {run['maxrss_mb'] / 30:.2f}; "
            f"{run['rss_before_mb']:.1f} MB before the read), {run['added']:.0f} transactions, "
            f"{run['bytes_read']:.0f} header bytes, rchar {run['rchar']:.0f}"
        )
    shutil.rmtree(path)


def _comparable(path: Path) -> tuple[object, ...]:
    result = read_transactions(path)
    found = [
        (t.segment, t.offset, t.first_segment, t.puts, t.deletes, t.bytes_added)
        for t in result.transactions
    ]
    pending = (result.pending_puts, result.pending_deletes, result.pending_bytes)
    return found, pending, result.cursor.segment, result.cursor.offset, result.cursor.bytes_read


def validate_format(scratch: Path) -> None:
    real = scratch / "real"
    source = scratch / "vsource"
    source.mkdir()
    _borg("init", "-e", "none", str(real), home=scratch)
    for name in ("a1", "a2", "a3"):
        _fill(source / name, 3 * MB)
        _borg("create", f"{real}::{name}", str(source), home=scratch)
    _borg("delete", f"{real}::a1", home=scratch)
    _borg("prune", "--keep-last", "1", str(real), home=scratch)
    copy = scratch / "rebuilt"
    synthetic.build(copy, synthetic.plan_of(real))
    same = _comparable(real) == _comparable(copy)
    print(
        f"   format check: a real repository ({len(read_transactions(real).transactions)} "
        f"transactions, creates, a delete, a prune) rebuilt with holes reads the same: {same}"
    )
    if not same:
        raise SystemExit("the synthetic format differs from borg's")
    shutil.rmtree(real)
    shutil.rmtree(copy)


def full_synthetic(scratch: Path, size_gb: float, objects: int) -> None:
    print(f"2. first full read of a synthetic {size_gb:g} GB repository, {objects} objects")
    validate_format(scratch)
    path = scratch / "synthetic"
    total = int(size_gb * 1e9)
    started = time.perf_counter()
    apparent = synthetic.build(path, synthetic.synthetic_plan(objects, total, 1000))
    built = time.perf_counter() - started
    on_disk = int(subprocess.run(["du", "-s", "-B1", str(path)], capture_output=True,
                                 text=True, check=True).stdout.split()[0])  # fmt: skip
    warm = _child("read", str(path))
    _drop_cache(path)
    cold = _child("read", str(path))
    print(
        f"   built in {built:.1f} s: {apparent / 1e9:.2f} GB apparent, "
        f"{on_disk / 1e6:.0f} MB allocated"
    )
    for name, run in (("warm", warm), ("cold", cold)):
        print(
            f"   {name}: {run['seconds']:.3f} s, {run['added']:.0f} transactions, "
            f"{run['bytes_read'] / 1e6:.2f} MB of headers, rchar {run['rchar'] / 1e6:.2f} MB "
            f"(ratio to the repository: {run['rchar'] / apparent:.2e}), "
            f"max RSS {run['maxrss_mb']:.1f} MB"
        )
    shutil.rmtree(path)


def _timed(command: list[str], **kwargs: object) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{command[:5]} failed: {done.stderr[-500:]}")
    return elapsed


def rollback(scratch: Path, segments: int, back: int, rounds: int) -> None:
    if os.geteuid() != 0:
        print("3. rollback: skipped (needs root to run borg as a repository user)")
        return
    scratch.chmod(0o755)
    base = scratch / "rollback"
    base.mkdir(mode=0o755)
    root = base / "repos"
    path = root / "rbench01" / "photos"
    path.parent.mkdir(parents=True)
    config = _config(base, root)
    home = base / "home"
    home.mkdir()
    os.chown(path.parent, UID, GID)
    os.chown(home, UID, GID)
    for name, count in (("first", segments - back), ("second", back)):
        _fill(home / name, count * 4096)
        os.chown(home / name, UID, GID)
    _borg("init", "-e", "none", str(path), home=home, user=UID)
    text = (path / "config").read_text()
    (path / "config").write_text(
        "\n".join(
            "max_segment_size = 4096" if line.startswith("max_segment_size") else line
            for line in text.splitlines()
        )
        + "\n"
    )
    started = time.perf_counter()
    for name in ("first", "second"):
        _borg(
            "create", "--compression", "none", "--chunker-params", "fixed,4096",
            f"{path}::{name}", str(home / name), home=home, user=UID,
        )  # fmt: skip
        if name == "first":
            target = read_transactions(path).transactions[-1].segment
    created = time.perf_counter() - started
    found = read_transactions(path)
    newest = found.transactions[-1].segment
    cli = [BORGHIVE, "--config", str(config)]
    history = _timed([*cli, "repo", "history", "alice/photos", "--json"])
    check_command = [BORG, "check", "--repository-only", str(path)]
    as_user = {
        "user": UID,
        "group": GID,
        "extra_groups": [],
        "env": {"PATH": "/usr/bin:/bin", "HOME": str(home), "BORG_BASE_DIR": str(home)},
    }
    alone: list[float] = []
    bare: list[float] = []
    rolled: list[float] = []
    undone: list[float] = []
    for _ in range(rounds):
        alone.append(_timed(check_command, **as_user))
        to = [*cli, "repo", "rollback", "alice/photos", "--to", str(target), "--yes"]
        rolled.append(_timed(to))
        undone.append(_timed([*cli, "repo", "rollback", "alice/photos", "--undo", "--yes"]))
        bare.append(_without_index(path, lambda: _timed(check_command, **as_user)))
    check, bare_check, roll, undo = (statistics.median(x) for x in (alone, bare, rolled, undone))
    print(
        f"3. rollback: {newest + 1} segments (created in {created:.0f} s), newest transaction "
        f"{newest}, target {target} ({newest - target} segments back)"
    )
    print(f"   repo history, first read of every segment: {history:.2f} s")
    print(
        f"   borg check --repository-only alone: {check:.2f} s; without the index files (as "
        f"a rollback leaves it, so borg rebuilds the index): {bare_check:.2f} s"
    )
    print(
        f"   repo rollback --to: {roll:.2f} s, beyond borg check {roll - check:.2f} s, beyond "
        f"the index-less check {roll - bare_check:.2f} s (ratio to the 1 s target: "
        f"{roll - bare_check:.2f}); --undo {undo:.2f} s; medians of {rounds}"
    )


def _without_index(path: Path, run: Callable[[], float]) -> float:
    """``run()`` with the repository's index, hints and integrity files moved aside (what
    borg writes meanwhile is removed); they are put back."""
    aside = path.parent / "aside"
    aside.mkdir()
    names = [n for n in os.listdir(path) if is_index_file(n)]
    for name in names:
        os.rename(path / name, aside / name)
    try:
        return run()
    finally:
        for name in os.listdir(path):
            if is_index_file(name):
                os.unlink(path / name)
        for name in names:
            os.rename(aside / name, path / name)
        aside.rmdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gb", type=float, default=2.0)
    parser.add_argument("--synthetic-gb", type=float, default=20.0)
    parser.add_argument("--objects", type=int, default=50_000)
    parser.add_argument("--segments", type=int, default=10_000)
    parser.add_argument("--back", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=["incremental", "synthetic", "rollback"])
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        child_main(arguments.child[0], arguments.child[1:])
        return
    scratch = Path(tempfile.mkdtemp(prefix="borghive-bench-history-", dir="/var/tmp"))
    try:
        if arguments.only in (None, "incremental"):
            incremental(scratch, arguments.size_gb)
        if arguments.only in (None, "synthetic"):
            full_synthetic(scratch, arguments.synthetic_gb, arguments.objects)
        if arguments.only in (None, "rollback"):
            rollback(scratch, arguments.segments, arguments.back, arguments.rounds)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
