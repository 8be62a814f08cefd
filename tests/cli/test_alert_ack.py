"""``borghive alert ack`` and ``alert list`` for deletions through Typer's CliRunner, on
both back ends: an unknown repository is one error line and exit 1, nothing to acknowledge
says so and exits 0, and what is acknowledged is exactly the unacknowledged deleting
transactions (not maintenance's, not rolled-back ones)."""

from __future__ import annotations

import datetime as dt

from borghive.rules.times import utcnow
from borghive.store import open_store
from borghive.store.models import Repository, RepoTransaction
from tests.cli.helpers import assert_refused
from tests.harness.cli import Cli


def _transactions(cli: Cli, *rows: tuple[int, int, int, str | None, bool]) -> int:
    """alice/photos given stored transactions (segment, puts, deletes, made_by, rolled back)."""
    with open_store(cli.config.store):
        repo = Repository.get(Repository.name == "photos")
        now = utcnow()
        for segment, puts, deletes, made_by, rolled in rows:
            RepoTransaction.create(
                repository=repo,
                segment=segment,
                commit_offset=8,
                first_segment=segment,
                time=now - dt.timedelta(hours=10 - segment),
                puts=puts,
                deletes=deletes,
                bytes_added=0,
                segments_present="0",
                made_by=made_by,
                rolled_back=now if rolled else None,
            )
        return int(repo.id)


def _acknowledged(cli: Cli) -> list[int]:
    with open_store(cli.config.store, readonly=True):
        return [
            t.segment
            for t in RepoTransaction.select()
            .where(RepoTransaction.acknowledged.is_null(False))
            .order_by(RepoTransaction.segment)
        ]


def test_ack_of_an_unknown_repository_is_one_error_line(cli: Cli) -> None:
    assert_refused(cli.run("alert", "ack", "nobody/nothing"), "nobody/nothing")
    assert_refused(cli.run("alert", "ack", "not a name"))


def test_ack_acknowledges_the_deleting_transactions_only(populated: Cli) -> None:
    cli = populated
    _transactions(
        cli,
        (1, 100, 0, "client", False),
        (2, 0, 60, "client", False),
        (3, 50, 40, "maintenance", False),  # compaction's own
        (4, 0, 5, None, True),  # rolled back
        (5, 0, 2, None, False),  # small, no session seen
    )
    listed = cli.json("alert", "list")
    [firing] = [f for f in listed if f["kind"] == "deletion"]
    assert firing["repository"] == "alice/photos" and firing["detail"] == "transaction 2"
    text = cli.ok("alert", "list").stdout
    assert "unacknowledged deletions" in text

    done = cli.ok("alert", "ack", "alice/photos")
    assert "acknowledged transaction 2 at" in done.stdout
    assert "acknowledged transaction 5 at" in done.stdout
    assert "2 transactions acknowledged" in done.stdout
    assert _acknowledged(cli) == [2, 5]
    assert [f for f in cli.json("alert", "list") if f["kind"] == "deletion"] == []

    again = cli.json("alert", "ack", "alice/photos")
    assert again["transactions"] == [] and again["repository"] == "alice/photos"
    said = cli.ok("alert", "ack", "alice/photos")
    assert "nothing to acknowledge" in said.stdout
    assert _acknowledged(cli) == [2, 5]
