"""``borghive repo reports`` and the client lines of ``repo show``: output, JSON, bad
input refused in one line with nothing written."""

from __future__ import annotations

import datetime as dt

import pytest

from borghive.store import open_store
from borghive.store.models import BorgSession, ClientReport, Repository, SshKey
from tests.harness.cli import Cli

from .helpers import assert_refused


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


@pytest.fixture
def reporting(populated: Cli) -> Cli:
    """alice/photos with five reports over 40 days (the newest a failure with a hostile
    log) and one finished session."""
    now = _now()
    with open_store(populated.config.store):
        repo = Repository.get(Repository.name == "photos")
        rows = [
            (now - dt.timedelta(days=40), "success", None, None, None, ""),
            (now - dt.timedelta(days=2, minutes=30), "start", "r1", None, None, ""),
            (now - dt.timedelta(days=2), "success", "r1", 0, 1800.0, "done\n"),
            (now - dt.timedelta(hours=1), "start", "r2", None, None, ""),
            (
                now - dt.timedelta(minutes=10),
                "fail",
                "r2",
                2,
                3000.4,
                "\x1b[31mError\x1b[0m: lock\x07\n",
            ),
        ]
        for received, kind, run_id, status, duration, body in rows:
            ClientReport.create(
                repository=repo,
                received=received,
                kind=kind,
                run_id=run_id,
                exit_status=status,
                duration=duration,
                body=body,
                body_truncated=kind == "fail",
                source="192.0.2.7",
            )
        key = SshKey.get(SshKey.name == "laptop")
        BorgSession.create(
            repository=repo,
            key=key,
            key_name="laptop",
            source="192.0.2.7",
            host="backup",
            pid=4242,
            program="borg",
            started=now - dt.timedelta(hours=1),
            ended=now - dt.timedelta(minutes=11),
            end_reason="closed",
        )
    return populated


def test_reports_newest_first_within_the_period(reporting: Cli) -> None:
    listed = reporting.json("repo", "reports", "alice/photos")
    reports = listed["reports"]
    assert [(r["kind"], r["run_id"], r["exit_status"]) for r in reports] == [
        ("fail", "r2", 2),
        ("start", "r2", None),
        ("success", "r1", 0),
        ("start", "r1", None),
    ]  # the report of 40 days ago is outside the default 30d
    assert reports[0]["duration"] == 3000.4 and reports[0]["source"] == "192.0.2.7"
    assert reports[0]["log"] is None  # only with --log
    assert (listed["owner"], listed["name"]) == ("alice", "photos")

    assert len(reporting.json("repo", "reports", "alice/photos", "--since", "50d")["reports"]) == 5
    limited = reporting.json("repo", "reports", "alice/photos", "--limit", "2", "--since", "1d")
    assert [r["kind"] for r in limited["reports"]] == ["fail", "start"]
    with_log = reporting.json("repo", "reports", "alice/photos", "--log", "--limit", "1")
    assert with_log["reports"][0]["log"] == "\x1b[31mError\x1b[0m: lock\x07\n"  # as stored

    table = reporting.ok("repo", "reports", "alice/photos").stdout
    assert "Client reports of alice/photos" in table
    assert "fail" in table and "r2" in table and "50m" in table and "192.0.2.7" in table


def test_reports_log_for_people_is_cleaned(reporting: Cli) -> None:
    out = reporting.ok("repo", "reports", "alice/photos", "--log", "--since", "1d").stdout
    assert "    Error: lock\n" in out
    assert "\x1b" not in out and "\x07" not in out
    assert "(cut to pings.body_limit by the server)" in out
    assert "    (no log)" in out  # the starts


def test_reports_of_a_repository_without_any(populated: Cli) -> None:
    out = populated.ok("repo", "reports", "alice/photos").stdout
    assert out.startswith("no client reports for alice/photos since ")
    assert populated.json("repo", "reports", "alice/photos")["reports"] == []


@pytest.mark.parametrize(
    ("args", "fragments", "code"),
    [
        (["alice/nothing"], ["alice/nothing"], 1),
        (["alice/photos", "--since", "yesterday"], ["invalid duration 'yesterday'"], 1),
        (["alice/photos", "--since", "0d"], ["must be longer than zero"], 1),
        (["alice/photos", "--since", "20000w"], ["longer than ten years"], 1),
        (["alice/photos", "--limit", "0"], ["--limit", "0 is out of range"], 2),
        (["alice/photos", "--limit", "10001"], ["--limit", "10001 is out of range"], 2),
        (["alice/photos", "--limit", "many"], ["--limit"], 2),
    ],
)
def test_reports_bad_input_is_refused_in_one_line(
    reporting: Cli, args: list[str], fragments: list[str], code: int
) -> None:
    before = reporting.snapshot()
    assert_refused(reporting.run("repo", "reports", *args), *fragments, exit_code=code)
    assert reporting.snapshot() == before


def test_show_names_the_last_report_and_the_last_session(reporting: Cli) -> None:
    shown = reporting.json("repo", "show", "alice/photos")
    assert (shown["last_report"]["kind"], shown["last_report"]["exit_status"]) == ("fail", 2)
    session = shown["last_session"]
    assert (session["key_name"], session["source"], session["end_reason"]) == (
        "laptop",
        "192.0.2.7",
        "closed",
    )
    assert session["ended"] is not None
    human = reporting.ok("repo", "show", "alice/photos").stdout
    [reported] = [line for line in human.splitlines() if line.startswith("last client report")]
    assert "fail " in reported and "exit status 2" in reported
    [seen] = [line for line in human.splitlines() if line.startswith("last session")]
    assert "by key laptop from 192.0.2.7" in seen and "(closed)" in seen


def test_show_without_reports_or_sessions(populated: Cli) -> None:
    human = populated.ok("repo", "show", "alice/photos").stdout
    lines = {line.split("  ")[0]: line.split()[-1] for line in human.splitlines() if "  " in line}
    assert lines["last client report"] == "-" and lines["last session"] == "-"


def test_reports_read_a_log_of_invalid_utf8_as_stored(reporting: Cli) -> None:
    from borghive.store import execute, is_sqlite

    with open_store(reporting.config.store):
        if is_sqlite():  # an SQLite TEXT value may hold any bytes
            execute(
                "UPDATE client_report SET body = CAST(? AS TEXT) WHERE kind = 'fail'",
                (b"bad \xff\xfe bytes\x1b[2J\n",),
            )
        else:  # PostgreSQL keeps only UTF-8: what a writer stores after decoding them
            ClientReport.update(body="bad \ufffd\ufffd bytes\x1b[2J\n").where(
                ClientReport.kind == "fail"
            ).execute()
    listed = reporting.json("repo", "reports", "alice/photos", "--log", "--limit", "1")
    assert listed["reports"][0]["log"] == "bad \ufffd\ufffd bytes\x1b[2J\n"
    out = reporting.ok("repo", "reports", "alice/photos", "--log", "--limit", "1").stdout
    assert "    bad \ufffd\ufffd bytes\n" in out and "\x1b" not in out
