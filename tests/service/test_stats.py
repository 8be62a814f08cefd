"""The stats services on both store back ends, with repositories made by real borg."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from borghive.config import Config
from borghive.errors import InvalidInputError, NotFoundError
from borghive.rules.times import utcnow
from borghive.service.repositories import lifecycle as repos
from borghive.service.repositories.backends import accounts_backend
from borghive.service.stats import collect as stats
from borghive.service.stats import export as stats_export
from borghive.service.stats import report as stats_report
from borghive.service.stats.collect import Retention
from borghive.service.users import people as users
from borghive.store.models import Repository, Statistic
from borghive.walker.pool import Walkers
from tests.harness.borg import apparent_size, du


def _repository(config: Config, reference: str, **settings: int) -> Path:
    created = repos.create_repository(config, accounts_backend(config), reference, **settings)
    return Path(created.repository.path)


@pytest.fixture
def alice(store: Config, make_borg_repo: Callable[[Path], Path]) -> tuple[Config, Path]:
    """alice/laptop (quota 1G, alert after 1d) initialised by borg; alice/empty not."""
    users.add_user("alice")
    path = _repository(store, "alice/laptop", quota=10**9, alert_after=86400)
    make_borg_repo(path)
    _repository(store, "alice/empty")
    return store, path


def test_collect_stores_one_point_per_measured_repository(alice: tuple[Config, Path]) -> None:
    config, path = alice
    seen: list[int] = []
    result = stats.collect(config, progress=lambda done, total, item: seen.append(done))
    assert (result.measured, result.missing, result.failed, result.unchanged) == (1, 1, 0, 0)
    assert sorted(seen) == [1, 2]
    laptop = next(item for item in result.repositories if item.name == "laptop")
    assert laptop.bytes_used == du(path) == result.bytes_used
    assert laptop.apparent_bytes == apparent_size(path)
    point = Statistic.get()
    assert point.bytes_used == du(path)
    assert point.apparent_bytes == apparent_size(path)
    assert point.segment_count == laptop.segment_count >= 1
    assert (point.initialised, point.borg_version, point.has_key, point.locked) == (
        True,
        1,
        True,
        False,
    )
    repo = Repository.get(Repository.name == "laptop")
    index = max(path.glob("index.*"), key=lambda p: p.stat().st_mtime)
    expected = dt.datetime.fromtimestamp(index.stat().st_mtime, dt.UTC).replace(tzinfo=None)
    assert repo.last_update == expected == point.last_update
    assert Repository.get(Repository.name == "empty").last_update is None

    stats.collect(config)
    assert Statistic.select().count() == 2


def test_timestamps_only_move_forward(alice: tuple[Config, Path]) -> None:
    """The watch daemon may have set a newer time than the files show: collect keeps it,
    and fills in what is unset."""
    config, path = alice
    later = utcnow().replace(microsecond=0) + dt.timedelta(days=1)
    Repository.update(last_update=later, last_access=None).where(
        Repository.name == "laptop"
    ).execute()
    stats.collect(config)
    repo = Repository.get(Repository.name == "laptop")
    assert repo.last_update == later
    expected = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).replace(tzinfo=None)
    assert repo.last_access == expected


def test_points_are_written_in_several_transactions_during_the_walk(
    store: Config, make_borg_repo: Callable[[Path], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stats, "_STORE_EVERY", 2)
    users.add_user("bob")
    paths = [make_borg_repo(_repository(store, f"bob/r{i}")) for i in range(5)]
    result = stats.collect(store, jobs=2)
    assert result.measured == 5
    stored = {point.repository.name: point.bytes_used for point in Statistic.select()}
    assert stored == {f"r{i}": du(path) for i, path in enumerate(paths)}
    assert all(repo.last_update is not None for repo in Repository.select())


def test_refresh_repository_by_repository_user(alice: tuple[Config, Path]) -> None:
    config, path = alice
    repo_user = Repository.get(Repository.name == "laptop").repo_user
    item = stats.refresh_repository(config, repo_user)
    assert (item.owner, item.name, item.status, item.bytes_used) == (
        "alice",
        "laptop",
        "ok",
        du(path),
    )
    assert Statistic.select().count() == 1
    with pytest.raises(NotFoundError):
        stats.refresh_repository(config, "alice/nothing")


def test_changed_since_skips_unchanged_repositories(alice: tuple[Config, Path]) -> None:
    config, path = alice
    old = dt.datetime.now().timestamp() - 7200
    os.utime(path, (old, old))
    for index in path.glob("index.*"):
        os.utime(index, (old, old))
    result = stats.collect(config, ["alice/laptop"], changed_since=3600)
    assert (result.unchanged, result.measured) == (1, 0)
    assert Statistic.select().count() == 0
    assert Repository.get(Repository.name == "laptop").last_update is not None


def test_timeout_is_reported_and_skipped(alice: tuple[Config, Path]) -> None:
    config, _ = alice
    hanging = _repository(config, "alice/hanging")
    hanging.mkdir(parents=True)
    os.mkfifo(hanging / "config")
    result = stats.collect(config, time_limit=1.0, jobs=2)
    outcome = {item.name: item.status for item in result.repositories}
    assert outcome == {"empty": "missing", "hanging": "timeout", "laptop": "ok"}
    assert result.failed == 1
    assert Statistic.select().count() == 1


def test_prune_keeps_recent_points_and_the_newest_of_each_iso_week(store: Config) -> None:
    users.add_user("bob")
    _repository(store, "bob/one")
    _repository(store, "bob/two")
    now = utcnow()
    created: dict[int, list[dt.datetime]] = {}
    for repo in Repository.select():
        # One point every 11 hours for 200 days: weeks hold 15 or 16, and the hours move
        # around midnight, so the Sunday/Monday boundary is tested each week.
        times = [now - dt.timedelta(hours=1 + 11 * step) for step in range(0, 200 * 24 // 11)]
        created[repo.id] = times
        for number, when in enumerate(times):
            Statistic.create(repository=repo, time=when, bytes_used=number, file_count=1)
    cutoff = now - dt.timedelta(days=90)
    result = stats.prune(Retention(keep_all_days=90, keep_weekly=True))
    for repo_id, times in created.items():
        newest_of_week: dict[tuple[int, int], dt.datetime] = {}
        for when in times:
            if when < cutoff:
                iso = when.isocalendar()
                week = (iso.year, iso.week)
                newest_of_week[week] = max(when, newest_of_week.get(week, when))
        expected = sorted([t for t in times if t >= cutoff] + list(newest_of_week.values()))
        left = sorted(p.time for p in Statistic.select().where(Statistic.repository == repo_id))
        assert left == expected
        assert 15 <= len(newest_of_week) <= 17
    total = sum(len(times) for times in created.values())
    assert result.deleted == total - Statistic.select().count()
    older = Statistic.select().where(Statistic.time < cutoff).count()
    assert result.kept == older
    assert stats.prune(Retention(keep_all_days=90, keep_weekly=False)).deleted == older
    assert Statistic.select().where(Statistic.time < cutoff).count() == 0


def test_show_reports_changes_quota_and_staleness(alice: tuple[Config, Path]) -> None:
    repo = Repository.get(Repository.name == "laptop")
    now = utcnow()
    for days, size in ((31, 100_000_000), (8, 200_000_000), (2, 250_000_000), (0, 300_000_000)):
        Statistic.create(
            repository=repo,
            time=now - dt.timedelta(days=days, minutes=1),
            bytes_used=size,
            file_count=10,
        )
    repo.last_update = now - dt.timedelta(days=2)
    repo.save()
    [laptop] = stats_report.show_stats("alice/laptop")
    assert laptop.bytes_used == 300_000_000
    assert laptop.changes == {"1d": 50_000_000, "7d": 100_000_000, "30d": 200_000_000}
    assert laptop.quota_used_percent == 30.0
    assert laptop.stale is True and laptop.backup_age_seconds >= 2 * 86400
    assert laptop.history == (200_000_000, 250_000_000, 300_000_000)
    both = stats_report.show_stats(user="alice")
    assert [s.name for s in both] == ["empty", "laptop"]
    assert both[0].bytes_used is None and both[0].changes["1d"] is None
    points = stats_report.history("alice/laptop", since=10 * 86400).points
    assert [p.bytes_used for p in points] == [200_000_000, 250_000_000, 300_000_000]
    assert len(stats_report.history("alice/laptop").points) == 4


def test_export_is_parsed_by_prometheus_client(alice: tuple[Config, Path], tmp_path: Path) -> None:
    config, path = alice
    stats.collect(config)
    collected = du(path)
    (path / "lock.exclusive").mkdir()  # a client opens it after the collect
    target = tmp_path / "textfile" / "borghive.prom"
    target.parent.mkdir()
    target.write_text("old contents\n")
    result = stats_export.export_prometheus(config, target)
    assert result.repositories == 2 and result.unreachable == ()
    assert sorted(os.listdir(target.parent)) == ["borghive.prom"]  # no temporary left
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    families = {f.name: f for f in text_string_to_metric_families(target.read_text())}
    labels = {
        "owner": "alice",
        "repository": "laptop",
        "repository_user": Repository.get(Repository.name == "laptop").repo_user,
    }

    def value(name: str) -> float:
        [sample] = [s for s in families[name].samples if s.labels == labels]
        return sample.value

    assert value("borghive_repository_size_bytes") == collected
    assert value("borghive_repository_quota_bytes") == 10**9
    assert value("borghive_repository_open") == 1
    index = max(path.glob("index.*"), key=lambda p: p.stat().st_mtime)
    assert value("borghive_repository_last_update_timestamp_seconds") == pytest.approx(
        index.stat().st_mtime, abs=1e-5
    )
    assert value("borghive_repository_last_access_timestamp_seconds") > 0
    assert value("borghive_stats_collect_duration_seconds") >= 0
    assert all(f.type == "gauge" for f in families.values())


def test_label_values_are_escaped() -> None:
    awkward = 'a "quoted"\\back\nslash'
    text = stats_export.render_metrics(
        {
            "borghive_repository_size_bytes": [
                ({"owner": awkward, "repository": "r", "repository_user": "u"}, 5)
            ]
        }
    )
    [family] = [
        f
        for f in text_string_to_metric_families(text)
        if f.name == "borghive_repository_size_bytes"
    ]
    assert family.samples[0].labels["owner"] == awkward
    assert family.samples[0].value == 5


def _counting_prefix(log: Path) -> list[str]:
    """A worker prefix that appends a line to ``log`` each time a walker starts."""
    return ["sh", "-c", f'echo started >> "{log}"; exec "$@"', "sh"]


@pytest.mark.parametrize("jobs", [256, 3])
def test_collect_never_starts_more_walkers_than_repositories(
    alice: tuple[Config, Path], tmp_path: Path, jobs: int
) -> None:
    config, _ = alice
    log = tmp_path / "walkers.log"
    result = stats.collect(config, jobs=jobs, worker_prefix=_counting_prefix(log))
    assert (result.measured, result.missing) == (1, 1)
    assert log.read_text().splitlines() == ["started"] * 2
    log.unlink()
    stats.collect(config, ["alice/laptop"], jobs=jobs, worker_prefix=_counting_prefix(log))
    assert log.read_text().splitlines() == ["started"]


def test_a_pool_started_larger_than_its_paths_keeps_only_one_walker_per_path(
    tmp_path: Path,
) -> None:
    paths = [str(tmp_path / name) for name in ("a", "b")]
    for path in paths:
        Path(path).mkdir()
    with Walkers(6) as walkers:
        assert len(walkers.workers) == 6
        results = list(walkers.measure(paths, limit=30))
        assert len(walkers.workers) <= 2
    assert sorted(r.path for r in results) == paths


@pytest.mark.parametrize(
    ("call", "problem"),
    [
        (lambda c: stats.collect(c, jobs=257), "jobs must be 0 to 256"),
        (lambda c: stats.collect(c, jobs=-1), "jobs must be 0 to 256"),
        (lambda c: stats.collect(c, time_limit=1e300), "time limit must be greater than 0"),
        (lambda c: stats.collect(c, time_limit=float("nan")), "time limit must be"),
        (lambda c: stats.prune(Retention(100_000_000)), "keep-all-days must be 1 to 36500"),
        (lambda c: stats.prune(Retention(10**20)), "keep-all-days must be 1 to 36500"),
        (
            lambda c: stats_export.export_prometheus(c, Path("/nonexistent/x"), time_limit=1e300),
            "time limit must be greater than 0",
        ),
    ],
)
def test_numbers_past_their_bounds_are_invalid_input_not_overflow(
    alice: tuple[Config, Path], call: Callable[[Config], object], problem: str
) -> None:
    config, _ = alice
    with pytest.raises(InvalidInputError, match=problem):
        call(config)
    assert Statistic.select().count() == 0


def test_the_largest_retention_prunes_nothing(alice: tuple[Config, Path]) -> None:
    config, _ = alice
    stats.collect(config)
    assert stats.prune(Retention(36500)).deleted == 0
