"""The client-report writer on SQLite and PostgreSQL: rows, durations across batches,
events, the per-repository bound, repositories deleted meanwhile, and ping URLs."""

from __future__ import annotations

import datetime as dt

import pytest

from borghive.config import Config
from borghive.errors import NotFoundError
from borghive.rules.accounts import NoAccounts
from borghive.service.pings.records import Report
from borghive.service.pings.urls import ping_tokens, repository_ping_url
from borghive.service.pings.writer import write_reports
from borghive.service.repositories import lifecycle as repos
from borghive.service.users import people as users
from borghive.store.models import ClientReport, Event, Repository

RID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
T0 = dt.datetime(2026, 3, 1, 12, 0, 0)


def _repository(config: Config, name: str) -> int:
    if not users.list_users():
        users.add_user("alice")
    repos.create_repository(config, NoAccounts(), f"alice/{name}")
    return int(Repository.get(Repository.name == name).id)


def _report(repo_id: int, kind: str, seconds: float, **fields: object) -> Report:
    values: dict[str, object] = {
        "repository_id": repo_id,
        "kind": kind,
        "run_id": None,
        "exit_status": {"success": 0}.get(kind),
        "body": "",
        "body_truncated": False,
        "source": "192.0.2.1",
        "received": T0 + dt.timedelta(seconds=seconds),
    }
    values.update(fields)
    return Report(**values)  # type: ignore[arg-type]


def test_durations_within_and_across_batches(store: Config) -> None:
    repo = _repository(store, "laptop")
    written = write_reports(
        [
            _report(repo, "start", 0, run_id=RID),
            _report(repo, "start", 5),
            _report(repo, "log", 6, body="half way"),
        ],
        keep=100,
        wait=5,
    )
    assert (written.stored, written.gone) == (3, 0)
    write_reports(
        [
            _report(repo, "fail", 65, exit_status=2),  # the start without a run id
            _report(repo, "success", 90, run_id=RID),
            _report(repo, "success", 95),  # no start since the last end
        ],
        keep=100,
        wait=5,
    )
    rows = list(ClientReport.select().order_by(ClientReport.id))
    assert [(r.kind, r.duration) for r in rows] == [
        ("start", None),
        ("start", None),
        ("log", None),
        ("fail", 60.0),
        ("success", 90.0),
        ("success", None),
    ]
    assert rows[2].body == "half way"
    events = [(e.kind, e.detail, e.source) for e in Event.select().order_by(Event.id)]
    client = [e for e in events if e[0].startswith("client-")]
    assert client == [
        ("client-start", "", "192.0.2.1"),
        ("client-start", "", "192.0.2.1"),
        ("client-fail", "exit status 2, took 60.0s", "192.0.2.1"),
        ("client-success", "exit status 0, took 90.0s", "192.0.2.1"),
        ("client-success", "exit status 0", "192.0.2.1"),
    ]


def test_the_newest_reports_are_kept_per_repository(store: Config) -> None:
    first, second = _repository(store, "laptop"), _repository(store, "desktop")
    batch = [_report(first, "log", n, body=str(n)) for n in range(30)]
    batch += [_report(second, "log", n, body=f"b{n}") for n in range(3)]
    write_reports(batch, keep=10, wait=5)
    write_reports([_report(first, "log", 99, body="last")], keep=10, wait=5)
    kept = [
        r.body
        for r in ClientReport.select()
        .where(ClientReport.repository == first)
        .order_by(ClientReport.id)
    ]
    assert kept == [str(n) for n in range(21, 30)] + ["last"]
    assert ClientReport.select().where(ClientReport.repository == second).count() == 3


def test_reports_of_a_deleted_repository_are_dropped(store: Config) -> None:
    repo = _repository(store, "laptop")
    written = write_reports(
        [_report(repo, "start", 0), _report(repo + 1000, "start", 1)], keep=10, wait=5
    )
    assert (written.stored, written.gone) == (1, 1)
    assert ClientReport.select().count() == 1


def test_ping_urls_are_made_once_and_rotated(store: Config) -> None:
    _repository(store, "laptop")
    made_at_create = Repository.get(Repository.name == "laptop").ping_token
    first = repository_ping_url(store, "alice/laptop")
    assert first.made is False and first.url.endswith(f"/ping/{made_at_create}")
    rotated = repository_ping_url(store, "alice/laptop", rotate=True)
    assert rotated.made is True and rotated.url != first.url
    (pair,) = ping_tokens()
    assert rotated.url.endswith(pair[1])
    with pytest.raises(NotFoundError):
        repository_ping_url(store, "alice/none")
