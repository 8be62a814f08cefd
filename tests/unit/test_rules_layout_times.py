"""The repository layout and the store's times, each defined once (rules/layout.py,
rules/times.py) and used by the service layer, the watch daemon and the login path."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from borghive.rules.layout import (
    client_command,
    client_url,
    home_path,
    init_command,
    repository_path,
)
from borghive.rules.times import aware, from_epoch, later, stored_time, to_store, utcnow


def test_the_layout() -> None:
    assert repository_path("/repos", "rq5o9m39", "laptop") == "/repos/rq5o9m39/laptop"
    assert repository_path(Path("/srv/repos/"), "r1", "x") == "/srv/repos/r1/x"
    assert repository_path("/", "r1", "x") == "/r1/x"
    assert home_path(Path("/repos"), "rq5o9m39") == "/repos/rq5o9m39"
    url = client_url("backup.example.org", 2222, "rq5o9m39", "laptop")
    assert url == "ssh://rq5o9m39@backup.example.org:2222/./laptop"
    assert init_command(url) == f"borg init --encryption=repokey-blake2 {url}"


def test_what_the_client_runs_first_depends_on_the_mode() -> None:
    host, user = "backup.example.org", "rq5o9m39"
    url = client_url(host, 2222, user, "laptop")
    assert client_command("borg", host, 2222, user, "laptop") == init_command(url)
    # rrsync (the forced command) puts the client in the repository directory
    assert client_command("import", host, 2222, user, "laptop") == (
        f"rsync -a -e 'ssh -p 2222' SOURCE/ {user}@{host}:"
    )
    assert client_command("export", host, 2222, user, "laptop") == (
        f"rsync -a -e 'ssh -p 2222' {user}@{host}: DESTINATION/"
    )
    assert client_command("import", host, 22, user, "x") == f"rsync -a SOURCE/ {user}@{host}:"
    assert client_command("export", host, 22, user, "x") == f"rsync -a {user}@{host}: DESTINATION/"
    assert client_command("disabled", host, 22, user, "x") is None
    assert client_command("unknown", host, 22, user, "x") is None


@given(st.from_regex(r"/[a-z]{1,8}(/[a-z]{1,8}){0,3}/?", fullmatch=True))
def test_the_text_path_is_the_pathlib_join(root: str) -> None:
    assert repository_path(root, "r1", "laptop") == str(Path(root) / "r1" / "laptop")


def test_store_values_are_naive_utc() -> None:
    now = utcnow()
    assert now.tzinfo is None
    assert abs(aware(now) - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=5)
    assert from_epoch(1_800_000_000.5) == dt.datetime(2027, 1, 15, 8, 0, 0, 500000)
    berlin = dt.timezone(dt.timedelta(hours=1))
    assert to_store(dt.datetime(2026, 12, 1, 13, 0, tzinfo=berlin)) == dt.datetime(2026, 12, 1, 12)
    assert stored_time("2026-12-01 12:00:00.250000") == dt.datetime(
        2026, 12, 1, 12, 0, 0, 250000, tzinfo=dt.UTC
    )
    assert stored_time(None) is None


def test_times_only_move_forward() -> None:
    earlier, later_time = dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 2)
    assert later(None, earlier)
    assert later(earlier, later_time)
    assert not later(later_time, earlier)
    assert not later(earlier, earlier)
    assert not later(earlier, None)
