"""``borghive host list|show|drain|refresh`` and ``repo create --host`` through the CLI, on
both store back ends: output, --json keys, and the bad input corpus (one error line,
exit 1, nothing written)."""

from __future__ import annotations

import pytest

from borghive.rules.times import utcnow
from borghive.store import open_store
from borghive.store.models import RepoMove, Repository, StorageHost
from tests.harness.cli import Cli

from .helpers import assert_refused

HERE = "backup.example.org"
HOST_FIELDS = {
    "name",
    "this_host",
    "draining",
    "capacity",
    "used",
    "free",
    "repositories",
    "reported",
    "report_age",
    "version",
    "ssh_port",
    "peer_address",
    "peer_port",
    "repos_root",
    "snapshot_confirmed",
    "snapshot_age",
    "snapshot_problem",
    "created",
}
BAD_HOSTS = [
    ("a/b", "not a host name"),
    ("a..b", "not a host name"),
    ("..", "not a host name"),
    ("a b", "whitespace"),
    ("a\tb", "control characters"),
    ("a\nb", "control characters"),
    ("a\x1b[2Jb", "control characters"),
    ("-b.example.org", "starts with '-'"),
    ("a" * 254, "longer than 253"),
    ("\u00e1.example.org", "not a host name"),
    ("", "empty"),
]


def _other_host(cli: Cli, name: str = "b.example.org", **values: object) -> None:
    with open_store(cli.config.store):
        StorageHost.create(
            name=name,
            capacity=4 * 10**12,
            used=10**12,
            free=3 * 10**12,
            reported=utcnow(),
            version="0.1.0",
            ssh_port=2222,
            **values,
        )


def test_list_shows_this_host_after_migrate(populated: Cli) -> None:
    populated.ok("migrate")
    hosts = populated.json("host", "list")
    assert [h["name"] for h in hosts] == [HERE]
    [here] = hosts
    assert set(here) == HOST_FIELDS
    assert here["this_host"] is True and here["draining"] is False
    assert here["repositories"] == 1  # alice/photos
    assert here["capacity"] > 0 and here["free"] > 0 and here["version"]
    out = populated.ok("host", "list").stdout
    assert f"{HERE} (this host)" in out and "open" in out


def test_list_and_show_another_host(populated: Cli) -> None:
    _other_host(populated, snapshot_problem="cannot reach the store")
    with open_store(populated.config.store):
        repo = Repository.get()
        Repository.update(host="b.example.org").where(Repository.id == repo.id).execute()
        RepoMove.create(
            repository=repo,
            source_host=HERE,
            target_host="b.example.org",
            step="copying",
            saved_mode="borg",
        )
    hosts = {h["name"]: h for h in populated.json("host", "list")}
    assert hosts["b.example.org"]["repositories"] == 1
    assert hosts[HERE]["repositories"] == 0
    out = populated.ok("host", "list").stdout
    assert "3.0T" in out or "3T" in out
    assert "PROBLEM: cannot reach the store" in out
    shown = populated.json("host", "show", "b.example.org")
    assert set(shown) == {"host", "modes", "moves"}
    assert shown["modes"] == {"borg": 1}
    [move] = shown["moves"]
    assert (move["repository"], move["direction"], move["step"]) == (
        "alice/photos",
        "in",
        "copying",
    )
    text = populated.ok("host", "show", "b.example.org").stdout
    assert "by mode" in text and "borg 1" in text and "Open moves" in text
    assert "alice/photos" in text


def test_drain_stops_placement_and_undo_restores_it(populated: Cli) -> None:
    populated.ok("migrate")
    out = populated.ok("host", "drain", HERE).stdout
    assert "is draining" in out
    assert populated.json("host", "show", HERE)["host"]["draining"] is True
    sqlite = populated.config.store.url.startswith("sqlite")
    result = populated.run("repo", "create", "alice/second")
    assert_refused(result, "is draining" if sqlite else "no storage host can take")
    result = populated.run("repo", "create", "alice/second", "--host", HERE)
    assert_refused(result, "is draining")
    with open_store(populated.config.store):
        assert not Repository.select().where(Repository.name == "second").exists()
    info = populated.json("host", "drain", HERE, "--undo")
    assert info["draining"] is False
    populated.ok("repo", "create", "alice/third")


@pytest.mark.parametrize(("bad", "reason"), BAD_HOSTS)
@pytest.mark.parametrize(
    "command",
    [("host", "show", "--"), ("host", "drain", "--"), ("repo", "create", "alice/new", "--host")],
)
def test_bad_host_names_are_refused(
    populated: Cli, command: tuple[str, ...], bad: str, reason: str
) -> None:
    before = populated.snapshot()
    result = populated.run(*command, bad)
    assert_refused(result, "invalid storage host name", reason)
    assert populated.snapshot() == before


@pytest.mark.parametrize("command", [("host", "show"), ("host", "drain")])
def test_an_unknown_host_is_not_found(populated: Cli, command: tuple[str, ...]) -> None:
    assert_refused(
        populated.run(*command, "zz.example.org"), "storage host zz.example.org not found"
    )


def test_create_on_another_host_prints_its_url(populated: Cli) -> None:
    if populated.config.store.url.startswith("sqlite"):
        result = populated.run("repo", "create", "alice/new", "--host", "b.example.org")
        assert_refused(result, "a SQLite store serves one host")
        return
    _other_host(populated)
    out = populated.ok("repo", "create", "alice/new", "--host", "b.example.org").stdout
    assert "host             b.example.org" in out or "b.example.org" in out
    assert "@b.example.org:2222/./new" in out
    listed = {r["name"]: r for r in populated.json("repo", "list")}
    assert listed["new"]["host"] == "b.example.org"
    assert listed["photos"]["host"] == HERE
    assert listed["new"]["url"].endswith("@b.example.org:2222/./new")
    shown = populated.json("repo", "show", "alice/new")
    assert shown["repository"]["host"] == "b.example.org"
    table = populated.ok("repo", "list").stdout
    assert "b.example.org" in table
    assert "host" in populated.ok("repo", "show", "alice/new").stdout


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_refresh_on_sqlite_has_nothing_to_do(populated: Cli) -> None:
    assert "nothing to refresh" in populated.ok("host", "refresh").stdout
    assert populated.json("host", "refresh") == {"refreshed": False, "snapshot": None}


@pytest.mark.parametrize(
    "command",
    [
        ("repo", "compact", "alice/photos"),
        ("repo", "check", "alice/photos"),
        ("repo", "break-lock", "alice/photos"),
        ("repo", "rollback", "alice/photos", "--to", "1", "--yes"),
        ("repo", "quarantine", "list", "alice/photos"),
        ("repo", "quarantine", "purge", "alice/photos", "--yes"),
        ("session", "list", "--repo", "alice/photos"),
        ("session", "kill", "--repo", "alice/photos", "--yes"),
        ("repo", "delete", "alice/photos", "--purge", "--yes"),
        ("stats", "collect", "alice/photos"),
    ],
)
def test_commands_needing_the_files_refuse_on_another_host(
    populated: Cli, command: tuple[str, ...]
) -> None:
    with open_store(populated.config.store):
        Repository.update(host="b.example.org").execute()
    before = populated.snapshot()
    result = populated.run(*command)
    line = assert_refused(result, "lives on storage host b.example.org", "not on this host")
    assert "cannot" in line and "borghive: hint: run the command on b.example.org" in result.stderr
    assert populated.snapshot() == before


def test_rename_takes_the_repositories_along(populated: Cli) -> None:
    populated.ok("migrate")
    renamed = populated.json("host", "rename", HERE, "store-1.example.org")
    assert renamed == {"old": HERE, "new": "store-1.example.org", "repositories": 1}
    with open_store(populated.config.store):
        assert {r.host for r in Repository.select()} == {"store-1.example.org"}
    assert_refused(populated.run("host", "rename", HERE, "x.example.org"), "no storage host")


@pytest.mark.parametrize(("bad", "reason"), BAD_HOSTS)
def test_rename_refuses_bad_names(populated: Cli, bad: str, reason: str) -> None:
    populated.ok("migrate")
    before = populated.snapshot()
    result = populated.run("host", "rename", "--", HERE, bad)
    assert_refused(result, "invalid storage host name", reason)
    assert populated.snapshot() == before
