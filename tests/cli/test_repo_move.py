"""``borghive repo move``: bad input is one error line, the right exit code and nothing
written; the peer commands refuse on the wrong host."""

from __future__ import annotations

import pytest

from borghive.store import open_store
from borghive.store.models import RepoMove, Repository, StorageHost
from tests.harness.cli import Cli

from .helpers import BAD_NAMES, assert_refused


def _unchanged(cli: Cli) -> None:
    with open_store(cli.config.store):
        assert RepoMove.select().count() == 0
        assert [r.mode for r in Repository.select()] == ["borg"]


@pytest.fixture
def here(populated: Cli) -> Cli:
    """alice/photos on this host (repo create sets the host with the placement branch)."""
    with open_store(populated.config.store):
        Repository.update(host="backup.example.org").execute()
    return populated


# "a/b" is a well-formed OWNER/NAME (not found, tested below).
@pytest.mark.parametrize(("name", "reason"), [bad for bad in BAD_NAMES if bad[0] != "a/b"])
def test_bad_repository_names(here: Cli, name: str, reason: str) -> None:
    assert_refused(here.run("repo", "move", "--to", "b", "--yes", "--", name), reason)
    _unchanged(here)


@pytest.mark.parametrize(
    "host", ["", "a b", "-x", "x" * 254, "a..b", "[zz]", "a/b", "a;b", "$(id)", "a\x1b[2Jb"]
)
def test_odd_target_host_names(here: Cli, host: str) -> None:
    assert_refused(
        here.run("repo", "move", "alice/photos", "--to", host, "--yes"),
        "invalid storage host name",
    )
    _unchanged(here)


def test_an_unknown_target_host(here: Cli) -> None:
    assert_refused(
        here.run("repo", "move", "alice/photos", "--to", "nowhere.example.org", "--yes"),
        "storage host nowhere.example.org not found",
    )
    _unchanged(here)


def test_an_unknown_repository(here: Cli) -> None:
    assert_refused(here.run("repo", "move", "alice/nothing", "--to", "b", "--yes"), "not found")


@pytest.mark.parametrize(
    ("wait", "reason"),
    [("0s", "longer than zero"), ("-1m", "invalid duration"), ("soon", "invalid duration"),
     ("5", "invalid duration"), ("99999w", "longer than ten years")],
)  # fmt: skip
def test_wait_bounds(here: Cli, wait: str, reason: str) -> None:
    result = here.run("repo", "move", "alice/photos", "--to", "b", "--wait", wait, "--yes")
    assert_refused(result, reason)
    _unchanged(here)


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--to", "b", "--abort"],
        ["--finish", "--purge-source"],
        ["--status", "--abort"],
        ["--finish", "--wait", "1m"],
    ],
)
def test_usage_errors(here: Cli, args: list[str]) -> None:
    result = here.run("repo", "move", "alice/photos", *args)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("borghive: error: ")
    _unchanged(here)


def test_a_move_needs_confirmation(here: Cli) -> None:
    with open_store(here.config.store):
        StorageHost.insert(name="b", repos_root="/srv/b").execute()
    result = here.run("repo", "move", "alice/photos", "--to", "b", input="n\n")
    assert result.exit_code == 1
    _unchanged(here)


@pytest.mark.parametrize("action", ["--finish", "--purge-source", "--abort", "--status"])
def test_no_move_to_end(here: Cli, action: str) -> None:
    result = here.run("repo", "move", "alice/photos", action, "--yes")
    assert_refused(result, "alice/photos")
    _unchanged(here)


def test_the_peer_commands_refuse_on_the_host_it_lives_on(here: Cli) -> None:
    assert_refused(here.run("repo", "move-probe", "alice/photos", "--json"), "lives on this host")
    assert_refused(here.run("repo", "move-check", "1", "--json"), "no open move 1")
    result = here.run("repo", "move-check", "0")
    assert result.exit_code == 2


def test_repo_show_tells_of_an_open_move(here: Cli) -> None:
    with open_store(here.config.store):
        StorageHost.create(name="b.example.org")
        repo = Repository.get()
        move = RepoMove.create(
            repository=repo,
            source_host=repo.host,
            target_host="b.example.org",
            step="copying",
            saved_mode="borg",
        )
    shown = here.ok("repo", "show", "alice/photos").stdout
    assert "to b.example.org, interrupted or running at step copying" in shown
    assert here.json("repo", "show", "alice/photos")["open_move"].startswith("to b.example.org")
    with open_store(here.config.store):
        RepoMove.update(step="switched").where(RepoMove.id == move.id).execute()
    assert "source copy" in here.ok("repo", "show", "alice/photos").stdout
    with open_store(here.config.store):
        RepoMove.update(ended=repo.created, outcome="finished").execute()
    shown = here.ok("repo", "show", "alice/photos").stdout
    assert "move" not in shown.split("url")[0]
    assert here.json("repo", "show", "alice/photos")["open_move"] is None
