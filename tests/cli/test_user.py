"""``borghive user add/list/show/set/remove``: output, JSON, refusals and unchanged state."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.harness.cli import Cli

from .helpers import BAD_NAMES, assert_refused

USER_FIELDS = {
    "name",
    "email",
    "realert_interval",
    "alert_expiration",
    "created",
    "key_count",
    "repository_count",
}


def test_add_prints_the_user_and_list_shows_it(cli: Cli) -> None:
    result = cli.ok("user", "add", "alice", "--email", "alice@example.org")
    assert result.stdout.strip() == "added user alice"

    listed = cli.ok("user", "list").stdout
    assert "alice" in listed
    assert "alice@example.org" in listed


def test_add_json_has_every_field(cli: Cli) -> None:
    added = cli.json(
        "user",
        "add",
        "carol",
        "--email",
        "carol@example.org",
        "--realert",
        "6h",
        "--expiration",
        "2d",
    )
    assert set(added) == USER_FIELDS
    assert added["name"] == "carol"
    assert added["email"] == "carol@example.org"
    assert added["realert_interval"] == 6 * 3600
    assert added["alert_expiration"] == 2 * 86400
    assert added["key_count"] == 0
    assert added["repository_count"] == 0
    created = dt.datetime.fromisoformat(added["created"])
    assert created.tzinfo is not None
    assert abs(dt.datetime.now(dt.UTC) - created) < dt.timedelta(minutes=5)


def test_list_json_counts_keys_and_repositories(populated: Cli) -> None:
    listed = populated.json("user", "list")
    assert [u["name"] for u in listed] == ["alice", "bob"]
    alice, bob = listed
    assert set(alice) == USER_FIELDS
    assert (alice["key_count"], alice["repository_count"]) == (2, 1)
    assert (bob["key_count"], bob["repository_count"]) == (1, 0)
    assert bob["email"] is None


def test_list_of_an_empty_store_is_an_empty_json_list(cli: Cli) -> None:
    assert cli.json("user", "list") == []


def test_show_for_people_and_for_scripts(populated: Cli) -> None:
    shown = populated.ok("user", "show", "alice").stdout
    assert "alice@example.org" in shown
    assert "re-alert interval" in shown
    assert "12h" in shown  # the default re-alert interval, formatted

    data = populated.json("user", "show", "alice")
    assert set(data) == USER_FIELDS
    assert data["name"] == "alice"
    assert data["key_count"] == 2
    assert data["repository_count"] == 1


def test_set_changes_only_what_is_given(populated: Cli) -> None:
    before = populated.json("user", "show", "alice")
    after = populated.json("user", "set", "alice", "--realert", "1d")
    assert after["realert_interval"] == 86400
    assert after["email"] == before["email"]
    assert after["alert_expiration"] == before["alert_expiration"]

    populated.ok("user", "set", "alice", "--email", "a@example.net", "--expiration", "1w")
    shown = populated.json("user", "show", "alice")
    assert shown["email"] == "a@example.net"
    assert shown["alert_expiration"] == 7 * 86400

    human = populated.ok("user", "set", "alice", "--no-email").stdout
    assert "alice" in human
    assert populated.json("user", "show", "alice")["email"] is None


def test_email_and_no_email_together_are_a_usage_error(populated: Cli) -> None:
    before = populated.snapshot()
    for argv in (
        ("--email", "a@example.net", "--no-email"),
        ("--no-email", "--email", "a@example.net"),
    ):
        result = populated.run("user", "set", "alice", *argv)
        assert_refused(result, "--email and --no-email contradict each other", exit_code=2)
        assert result.stderr.splitlines()[1] == "borghive: hint: see 'borghive user set --help'"
    assert populated.snapshot() == before
    assert populated.json("user", "show", "alice")["email"] == "alice@example.org"


def test_remove_deletes_a_user_who_owns_nothing(cli: Cli) -> None:
    cli.ok("user", "add", "dave")
    assert cli.ok("user", "remove", "dave").stdout.strip() == "removed user dave"
    assert cli.json("user", "list") == []


def test_remove_is_refused_while_the_user_owns_things(populated: Cli) -> None:
    before = populated.snapshot()
    line = assert_refused(
        populated.run("user", "remove", "alice"), "alice", "alice/photos", "alice/laptop"
    )
    assert "still owns" in line
    assert populated.snapshot() == before


def test_add_duplicate_is_refused(populated: Cli) -> None:
    before = populated.snapshot()
    assert_refused(populated.run("user", "add", "alice"), "already exists")
    assert populated.snapshot() == before


def test_unknown_user_is_not_found(populated: Cli, subtests: pytest.Subtests) -> None:
    before = populated.snapshot()
    for command in (
        ("user", "show", "nobody"),
        ("user", "set", "nobody", "--email", "n@example.org"),
        ("user", "remove", "nobody"),
    ):
        with subtests.test(command=command):
            result = populated.run(*command)
            assert_refused(result, "'nobody'", "not found")
            assert "borghive: hint: see 'borghive user list'" in result.stderr
    assert populated.snapshot() == before


def test_bad_names_are_refused_by_every_user_command(
    populated: Cli, subtests: pytest.Subtests
) -> None:
    before = populated.snapshot()
    for name, reason in BAD_NAMES:
        for command in (
            ("user", "add", "--", name),
            ("user", "show", "--", name),
            ("user", "set", "--email", "x@example.org", "--", name),
            ("user", "remove", "--", name),
        ):
            with subtests.test(command=command):
                assert_refused(populated.run(*command), "invalid user name", reason)
    assert populated.snapshot() == before


def test_malformed_durations_are_refused(populated: Cli, subtests: pytest.Subtests) -> None:
    before = populated.snapshot()
    for option in ("--realert", "--expiration"):
        for value in ("5x", "0h", "1h 30m", "12", "h", "99999w", "-1h", ""):
            with subtests.test(option=option, value=value):
                for command in (("user", "add", "carol"), ("user", "set", "alice")):
                    result = populated.run(*command, f"{option}={value}")
                    assert_refused(result, "invalid duration", repr(value))
    assert populated.snapshot() == before


def test_malformed_email_is_refused(populated: Cli, subtests: pytest.Subtests) -> None:
    before = populated.snapshot()
    for email in ("no-at-sign", "a@b c", "a@b\nc", "<a@b>", "a@", "a@b@c"):
        with subtests.test(email=email):
            assert_refused(populated.run("user", "add", "carol", "--email", email), "e-mail")
            assert_refused(populated.run("user", "set", "bob", "--email", email), "e-mail")
    assert populated.snapshot() == before
