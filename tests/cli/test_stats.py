"""``borghive stats …`` through Typer's runner: exit codes, output, resulting state."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from borghive.cli.stats import sparkline
from borghive.config import Config
from borghive.service.repositories import lifecycle as repos
from borghive.service.repositories.backends import accounts_backend
from borghive.service.users import people as users
from borghive.store import open_store
from borghive.store.models import Statistic
from tests.harness.borg import du
from tests.harness.cli import Cli

from .helpers import assert_refused


@pytest.fixture
def cli(migrated: Config, config_file: Path, make_borg_repo: Callable[[Path], Path]) -> Cli:
    """alice/laptop initialised by real borg (quota 2G, alert after 1d)."""
    with open_store(migrated.store):
        users.add_user("alice")
        created = repos.create_repository(
            migrated,
            accounts_backend(migrated),
            "alice/laptop",
            quota=2 * 10**9,
            alert_after=86400,
        )
    make_borg_repo(Path(created.repository.path))
    return Cli(config_file=config_file, config=migrated, runner=CliRunner())


def _path(cli: Cli) -> Path:
    [repository] = [p for p in cli.config.repos.root.glob("*/laptop")]
    return repository


def test_collect_show_history_prune_export(cli: Cli, tmp_path: Path) -> None:
    collected = cli.ok("stats", "collect", "--json")
    data = json.loads(collected.stdout)
    assert data["measured"] == 1 and data["failed"] == 0
    assert data["repositories"][0]["bytes_used"] == du(_path(cli))

    summary = cli.ok("stats", "collect", "alice/laptop")
    assert summary.stdout.startswith("measured 1 repository (")
    assert cli.ok("stats", "collect", "--quiet").stdout == ""

    shown = cli.ok("stats", "show")
    assert "alice/laptop" in shown.stdout and "2G" in shown.stdout
    [item] = json.loads(cli.ok("stats", "show", "--user", "alice", "--json").stdout)
    assert item["bytes_used"] == du(_path(cli)) and item["stale"] is False

    history = json.loads(
        cli.ok("stats", "history", "alice/laptop", "--since", "1d", "--json").stdout
    )
    assert len(history["points"]) == 3
    assert "alice/laptop" in cli.ok("stats", "history", "alice/laptop").stdout

    pruned = json.loads(
        cli.ok("stats", "prune", "--keep-all-days", "30", "--no-keep-weekly", "--json").stdout
    )
    assert pruned["deleted"] == 0

    target = tmp_path / "borghive.prom"
    exported = cli.ok("stats", "export", "--prometheus", str(target))
    assert "samples of 1 repository to" in exported.stdout
    assert 'borghive_repository_size_bytes{owner="alice"' in target.read_text()
    with open_store(cli.config.store):
        assert Statistic.select().count() == 3


def test_collect_reports_a_hanging_repository_and_exits_1(cli: Cli) -> None:
    with open_store(cli.config.store):
        created = repos.create_repository(cli.config, accounts_backend(cli.config), "alice/stuck")
    path = Path(created.repository.path)
    path.mkdir(parents=True)
    os.mkfifo(path / "config")
    result = cli.run("stats", "collect", "--time-limit", "1s")
    assert result.exit_code == 1
    assert "borghive: warning: alice/stuck: timeout" in result.stderr
    assert "1 failed" in result.stdout


def test_the_stats_section_sets_retention_and_time_limit(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``[stats]`` (here through its environment variables) is what cron's plain
    ``stats collect`` / ``stats prune`` apply; options on the command line win."""
    cli.ok("stats", "collect", "--quiet")
    with open_store(cli.config.store):
        ten_days_ago = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=10)
        Statistic.update(time=ten_days_ago).execute()
    monkeypatch.setenv("BORGHIVE_STATS_KEEP_ALL_DAYS", "5")
    monkeypatch.setenv("BORGHIVE_STATS_KEEP_WEEKLY", "false")
    kept = json.loads(cli.ok("stats", "prune", "--keep-all-days", "30", "--json").stdout)
    assert (kept["deleted"], kept["keep_all_days"], kept["keep_weekly"]) == (0, 30, False)
    pruned = json.loads(cli.ok("stats", "prune", "--json").stdout)
    assert (pruned["deleted"], pruned["keep_all_days"]) == (1, 5)

    with open_store(cli.config.store):
        created = repos.create_repository(cli.config, accounts_backend(cli.config), "alice/stuck")
    path = Path(created.repository.path)
    path.mkdir(parents=True)
    os.mkfifo(path / "config")
    monkeypatch.setenv("BORGHIVE_STATS_TIME_LIMIT", "1")
    result = cli.run("stats", "collect", "alice/stuck", "--json")
    assert result.exit_code == 1
    assert "no answer within 1s" in result.stderr


def test_unknown_repository_and_bad_duration(cli: Cli) -> None:
    missing = cli.run("stats", "collect", "alice/nothing")
    assert missing.exit_code == 1
    assert "borghive: error: repository alice/nothing not found" in missing.stderr
    bad = cli.run("stats", "collect", "--changed-since", "soon")
    assert bad.exit_code == 1 and "invalid duration" in bad.stderr


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (("collect", "--jobs", "300"), "'--jobs' / '-j': 300 is out of range: must be 0 to 256"),
        (("collect", "-j", "100000"), "100000 is out of range: must be 0 to 256"),
        (("collect", "--jobs", "-1"), "-1 is out of range"),
        (("prune", "--keep-all-days", "99999999999999999999"), "must be 1 to 36500 days"),
        (("collect", "--keep-all-days", "36501"), "must be 1 to 36500 days"),
        (("prune", "--keep-all-days", "0"), "must be 1 to 36500 days"),
        (("prune", "--keep-weekly", "--no-keep-weekly"), "--keep-weekly and --no-keep-weekly"),
        (("collect", "--quiet", "--json"), "--quiet and --json contradict each other"),
    ],
)
def test_numbers_out_of_bounds_and_contradictions_are_usage_errors(
    cli: Cli, argv: tuple[str, ...], fragment: str
) -> None:
    with open_store(cli.config.store):
        points = Statistic.select().count()
    started = dt.datetime.now()
    assert_refused(cli.run("stats", *argv), fragment, exit_code=2)
    assert (dt.datetime.now() - started).total_seconds() < 5  # nothing was started
    with open_store(cli.config.store):
        assert Statistic.select().count() == points


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (("collect", "--time-limit", "2d"), "invalid duration '2d': longer than 1d"),
        (("collect", "--time-limit", "99999w"), "longer than 1d"),
        (("export", "--prometheus", "/dev/null", "--time-limit", "1d1s"), "longer than 1d"),
    ],
)
def test_time_limits_past_a_day_are_refused(cli: Cli, argv: tuple[str, ...], fragment: str) -> None:
    assert_refused(cli.run("stats", *argv), fragment)


def test_the_largest_bounds_still_work(cli: Cli) -> None:
    result = json.loads(
        cli.ok(
            "stats",
            "collect",
            "--jobs",
            "256",
            "--time-limit",
            "1d",
            "--keep-all-days",
            "36500",
            "--json",
        ).stdout
    )
    assert (result["measured"], result["failed"]) == (1, 0)
    pruned = json.loads(cli.ok("stats", "prune", "--no-keep-weekly", "--json").stdout)
    assert pruned["keep_weekly"] is False


def test_sparkline() -> None:
    assert sparkline(()) == ""
    assert sparkline((5, 5)) == "▁▁"
    assert sparkline((0, 50, 100)) == "▁▅█"
