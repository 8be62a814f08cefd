"""One "latest statistic" for every command that shows a size: ``repo show``, ``stats show``,
``stats export`` and ``alert list`` agree, also when two points share a time (the one
stored last wins), on both back ends."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from borghive.rules.times import utcnow
from borghive.store import open_store
from borghive.store.models import Repository, Statistic
from tests.harness.cli import Cli


def test_every_command_reports_the_same_latest_size(populated: Cli, tmp_path: Path) -> None:
    populated.ok("repo", "set", "alice/photos", "--quota", "10M")
    moment = utcnow() - dt.timedelta(minutes=5)
    with open_store(populated.config.store):
        repo = Repository.get(Repository.name == "photos")
        # Stored in this order: the second point of the same moment is the latest; an
        # older point with more bytes must not win either.
        for used in (9_300_000, 9_500_000):
            Statistic.create(repository=repo, time=moment, bytes_used=used, file_count=3)
        Statistic.create(
            repository=repo, time=moment - dt.timedelta(hours=1), bytes_used=9_900_000, file_count=3
        )

    shown = populated.json("repo", "show", "alice/photos", "--json")
    (stats,) = populated.json("stats", "show", "alice/photos", "--json")
    target = tmp_path / "borghive.prom"
    populated.ok("stats", "export", "--prometheus", str(target))
    exported = re.findall(
        r'^borghive_repository_size_bytes\{[^}]*repository="photos"[^}]*\} (\S+)$',
        target.read_text(),
        re.M,
    )
    (firing,) = populated.json("alert", "list", "--json")

    assert shown["last_statistic"]["bytes_used"] == 9_500_000
    assert stats["bytes_used"] == 9_500_000
    assert [float(value) for value in exported] == [9_500_000.0]
    assert (firing["kind"], firing["bytes_used"]) == ("quota", 9_500_000)
