"""Each host acts only on its own repositories (issue: several storage hosts), on both
store back ends: a repository whose ``host`` is another storage host is not walked by
stats collect, not planned by maintain, not alerted on, its watch events are left out
quietly, and the commands that need its files refuse, naming the host it lives on."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from borghive.config import Config
from borghive.errors import ConflictError
from borghive.service.alerts import channels as notify
from borghive.service.alerts import check as alerts
from borghive.service.events.records import RepoKey, RepoTimes
from borghive.service.events.writer import record_changes
from borghive.service.history.view import repository_history
from borghive.service.maintenance import scheduler
from borghive.service.maintenance.check import check_repository
from borghive.service.maintenance.compact import compact_repository
from borghive.service.repositories import lifecycle as repos
from borghive.service.repositories.backends import accounts_backend
from borghive.service.rollback.manage import list_quarantines
from borghive.service.sessions.live import live_sessions
from borghive.service.stats import collect as stats
from borghive.service.users import people as users
from borghive.store.models import AlertState, Event, Repository, Statistic
from tests.harness.alerts import Clock

OTHER = "b.example.org"


@pytest.fixture
def two(store: Config, make_borg_repo: Callable[[Path], Path]) -> tuple[Config, Path, Path]:
    """alice/here (on this host) and alice/there (placed on b.example.org), both with a
    real borg repository on this disk (a copy left behind, as after a move) and an alert
    period long past."""
    users.add_user("alice", "alice@example.org")
    paths = []
    for name in ("here", "there"):
        created = repos.create_repository(
            store, accounts_backend(store), f"alice/{name}", alert_after=3600
        )
        paths.append(make_borg_repo(Path(created.repository.path)))
    old = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=3)
    Repository.update(created=old).execute()
    Repository.update(host=OTHER).where(Repository.name == "there").execute()
    return store, paths[0], paths[1]


def test_stats_collect_walks_only_this_hosts_repositories(two: tuple[Config, Path, Path]) -> None:
    config, _, _ = two
    result = stats.collect(config)
    assert [item.name for item in result.repositories] == ["here"]
    measured = {row.repository.name for row in Statistic.select()}
    assert measured == {"here"}
    with pytest.raises(ConflictError, match=f"lives on storage host {OTHER}"):
        stats.collect(config, ["alice/there"])


def test_maintain_plans_only_this_hosts_repositories(two: tuple[Config, Path, Path]) -> None:
    config, _, _ = two
    report = scheduler.maintain(config, dry_run=True)
    there = Repository.get(Repository.name == "there").id
    assert there not in {step.repository_id for step in report.planned}
    assert len(report.planned) + len(report.skipped) + report.not_due >= 1
    assert len(scheduler.load_states(sessions=set(), host="backup.example.org")) == 1
    assert len(scheduler.load_states(sessions=set())) == 2


def test_alerts_fire_only_for_this_hosts_repositories(
    two: tuple[Config, Path, Path], clock: Clock
) -> None:
    config, _, _ = two
    notify.add_channel("alice", "email")
    report = alerts.check_alerts(config, clock, dry_run=True)
    assert (report.repositories, report.firing) == (1, 1)
    assert {d.repository for d in report.deliveries} <= {"alice/here"}
    assert AlertState.select().count() == 0


@pytest.mark.parametrize(
    "action",
    [
        lambda c: compact_repository(c, "alice/there"),
        lambda c: check_repository(c, "alice/there"),
        lambda c: list_quarantines(c, "alice/there"),
        lambda c: live_sessions(c, "alice/there"),
        lambda c: repos.delete_repository(c, accounts_backend(c), "alice/there", purge=True),
    ],
    ids=["compact", "check", "quarantine-list", "session-list", "delete-purge"],
)
def test_commands_needing_the_files_refuse_naming_the_host(
    two: tuple[Config, Path, Path], action: Callable[[Config], object]
) -> None:
    config, _, there = two
    with pytest.raises(ConflictError) as raised:
        action(config)
    assert f"lives on storage host {OTHER}" in raised.value.message
    assert raised.value.hint == f"run the command on {OTHER}"
    assert Repository.select().count() == 2
    assert (there / "config").is_file()


def test_history_of_another_hosts_repository_is_read_from_the_store_only(
    two: tuple[Config, Path, Path],
) -> None:
    config, _, _ = two
    assert repository_history(config, "alice/there").update is None
    assert repository_history(config, "alice/here").update is not None


def test_watch_records_leave_out_other_hosts_repositories(two: tuple[Config, Path, Path]) -> None:
    here = Repository.get(Repository.name == "here")
    there = Repository.get(Repository.name == "there")
    moment = dt.datetime(2030, 1, 1)
    times = {
        RepoKey(r.repo_user, r.name): RepoTimes(last_access=moment, last_update=moment)
        for r in (here, there)
    }
    report = record_changes([], times, storage_host="backup.example.org")
    assert report.elsewhere == {RepoKey(there.repo_user, "there")}
    assert report.unknown == frozenset()
    assert report.repositories_updated == 1
    assert Repository.get_by_id(there.id).last_update == there.last_update
    assert Repository.get_by_id(here.id).last_update is not None
    assert Event.select().count() == 0
