"""The spool file (what the daemon could not write at its stop): written atomically, read
back exactly, and anything that is not a spool refused as one error; why a watch is
refused; the spool's configuration key."""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import resource
import signal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from borghive.config_load import load_config
from borghive.errors import ConfigError
from borghive.service.events.records import EventRecord, RepoKey
from borghive.watch.inotify import watch_refusal
from borghive.watch.spool import SpoolError, read_spool, remove_spool, write_spool

KINDS = ("created", "opened", "updated", "closed", "deleted")
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
EVENTS = st.lists(
    st.builds(
        EventRecord,
        st.builds(RepoKey, TEXT, TEXT),
        st.sampled_from(KINDS),
        st.datetimes(min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(9999, 1, 1)),
        TEXT,
    ),
    max_size=30,
)


@settings(max_examples=200)
@given(events=EVENTS)
def test_what_is_written_is_read_back_exactly(
    tmp_path_factory: pytest.TempPathFactory, events: list[EventRecord]
) -> None:
    path = tmp_path_factory.mktemp("spool") / "sub" / "watch.spool"
    write_spool(path, events)
    assert read_spool(path, KINDS) == events
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["watch.spool"]  # no temporary left


@settings(max_examples=300)
@given(
    data=st.one_of(
        st.binary(max_size=200),
        st.builds(
            json.dumps,
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                lambda inner: (
                    st.lists(inner, max_size=5)
                    | st.dictionaries(st.sampled_from(["format", "events", "x"]), inner, max_size=3)
                ),
                max_leaves=20,
            ),
        ).map(str.encode),
    )
)
def test_anything_else_is_refused_as_one_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("spool") / "watch.spool"
    path.write_bytes(data)
    try:
        events = read_spool(path, KINDS)
    except SpoolError as error:
        assert str(error)
    else:
        assert all(isinstance(e, EventRecord) and e.kind in KINDS for e in events)


def test_unknown_kinds_and_zoned_times_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "watch.spool"
    for item, problem in (
        (["r1", "a", "exploded", "2026-01-01T00:00:00", ""], "unknown event kind"),
        (["r1", "a", "opened", "2026-01-01T00:00:00+02:00", ""], "naive UTC"),
        (["r1", "a", "opened", "yesterday", ""], "not a spool"),
        (["r1", "a", "opened"], "not an event"),
    ):
        path.write_text(json.dumps({"format": 1, "events": [item]}))
        with pytest.raises(SpoolError, match=problem):
            read_spool(path, KINDS)
    path.write_text(json.dumps({"format": 2, "events": []}))
    with pytest.raises(SpoolError, match="format 1"):
        read_spool(path, KINDS)


def test_a_failed_write_leaves_the_old_spool_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "watch.spool"
    old = [EventRecord(RepoKey("r1", "a"), "opened", dt.datetime(2026, 1, 1))]
    write_spool(path, old)
    # The file-size limit makes the write fail half-way, as a full disk or quota would.
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20, hard))
    try:
        with pytest.raises(OSError):
            write_spool(path, old * 2)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)
    assert read_spool(path, KINDS) == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["watch.spool"]
    remove_spool(path)
    remove_spool(path)  # none: nothing to do
    assert read_spool(path, KINDS) == []


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (errno.EACCES, "cannot watch /repos/r1: permission denied"),
        (errno.EPERM, "cannot watch /repos/r1: permission denied"),
        (errno.ENOSPC, "watch limit reached (raise fs.inotify.max_user_watches"),
        (errno.ELOOP, "cannot watch /repos/r1: Too many levels of symbolic links"),
        (0, "cannot watch /repos/r1: unknown error"),
    ],
)
def test_a_refused_watch_names_the_path_and_the_real_reason(code: int, expected: str) -> None:
    message = watch_refusal(Path("/repos/r1"), code)
    assert message is not None and expected in message
    assert ("max_user_watches" in message) == (code == errno.ENOSPC)


def test_a_directory_gone_meanwhile_is_not_reported() -> None:
    assert watch_refusal(Path("/repos/r1"), errno.ENOENT) is None
    assert watch_refusal(Path("/repos/r1"), errno.ENOTDIR) is None


def test_the_spool_must_be_an_absolute_path(tmp_path: Path) -> None:
    config_file = tmp_path / "borghive.toml"
    config_file.write_text('[watch]\nspool = "/var/lib/borghive/other.spool"\n')
    assert load_config(config_file, {}).watch.spool == Path("/var/lib/borghive/other.spool")
    with pytest.raises(ConfigError, match=r"watch\.spool: must be an absolute path"):
        load_config(config_file, {"BORGHIVE_WATCH_SPOOL": "relative.spool"})
