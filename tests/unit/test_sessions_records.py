"""The pure parts of session tracking: the kill target parser, the outbox's merged session
records, which marked processes lead a session, and how a session that vanished ended."""

from __future__ import annotations

import datetime as dt
import os
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from borghive.errors import InvalidInputError
from borghive.service.events.records import RepoKey, SessionRecord, SessionRef
from borghive.service.sessions.kill import PID_LIMIT, parse_target
from borghive.sessions.procs import ProcessInfo, innermost_pid, parent_pid, session_leaders
from borghive.watch.outbox import Outbox

T0 = dt.datetime(2026, 2, 3, 4, 5, 6)
REF = SessionRef("host", 4711, T0)
KEY = RepoKey("r1", "laptop")


@given(st.integers(min_value=1, max_value=PID_LIMIT))
def test_every_pid_and_session_id_parses(number: int) -> None:
    assert parse_target(str(number)) == number


@given(st.text())
def test_anything_else_is_refused_or_parses_to_what_it_says(text: str) -> None:
    try:
        value = parse_target(text)
    except InvalidInputError as error:
        assert "not a session id or pid" in error.message
    else:
        assert text.strip().isascii() and int(text.strip()) == value and 1 <= value <= PID_LIMIT


@pytest.mark.parametrize("text", ["", "0", "-1", "+1", "1.5", "0x10", str(PID_LIMIT + 1), "٣"])
def test_edge_cases_are_refused(text: str) -> None:
    with pytest.raises(InvalidInputError):
        parse_target(text)


def test_the_outbox_merges_a_session_as_it_goes_on() -> None:
    outbox = Outbox()
    outbox.add_session(SessionRecord(KEY, REF, "borg", "SHA256:x", "127.0.0.2", 40000))
    outbox.add_session(SessionRecord(KEY, REF, "borg", lock_since=T0))
    outbox.add_session(SessionRecord(KEY, REF, "borg", committed=True))
    outbox.add_session(SessionRecord(KEY, REF, "borg", lock_since=T0 + dt.timedelta(hours=1)))
    (merged,) = outbox.sessions.values()
    assert (merged.key_fingerprint, merged.source, merged.source_port) == (
        "SHA256:x",
        "127.0.0.2",
        40000,
    )
    assert merged.lock_since == T0 and merged.committed  # the first lock wins
    taken, alive = outbox.take_sessions()
    assert alive is None and outbox.pending
    outbox.sessions_written(taken, alive)
    assert not outbox.pending


def test_alive_is_pending_until_written() -> None:
    outbox = Outbox()
    outbox.set_alive(frozenset({REF}))
    taken, alive = outbox.take_sessions()
    assert alive == frozenset({REF}) and outbox.pending
    outbox.set_alive(frozenset())  # changed meanwhile: still to write
    outbox.sessions_written(taken, alive)
    assert outbox.pending
    outbox.sessions_written(*outbox.take_sessions())
    assert not outbox.pending


def test_children_of_a_marked_process_belong_to_its_session() -> None:
    parent = subprocess.Popen(["/bin/sh", "-c", "/bin/sleep 30 & wait"])
    child = None
    try:
        for _ in range(200):
            children = [
                int(name)
                for name in os.listdir("/proc")
                if name.isdigit() and parent_pid(int(name)) == parent.pid
            ]
            if children:
                child = children[0]
                break
            subprocess.run(["/bin/sleep", "0.01"], check=True)
        assert child is not None
        infos = [
            ProcessInfo(pid, 0, 0.0, "borg", "SHA256:x", None, None, None)
            for pid in (parent.pid, child)
        ]
        assert [info.pid for info in session_leaders(infos)] == [parent.pid]
        assert innermost_pid(parent.pid) == parent.pid  # no pid namespace here
    finally:
        if child is not None:
            os.kill(child, 9)
        parent.kill()
        parent.wait()
    assert parent_pid(parent.pid) is None and innermost_pid(parent.pid) is None
