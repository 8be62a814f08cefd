"""``borghive repo create/list/show/set/grant/revoke/delete``: output, JSON, refusals."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.harness.cli import Cli

from .helpers import BAD_NAMES, assert_refused

REPO_FIELDS = {
    "owner",
    "being_purged",
    "host",
    "borg_name",
    "name",
    "repo_user",
    "uid_number",
    "mode",
    "quota",
    "alert_after",
    "last_access",
    "last_update",
    "created",
    "path",
    "url",
    "key_count",
}
REPO_USER = re.compile(r"r[a-z0-9]{7}")


def test_create_prints_the_client_url(populated: Cli) -> None:
    out = populated.ok("repo", "create", "alice/docs", "-k", "laptop").stdout
    info = next(r for r in populated.snapshot()[2] if r.name == "docs")
    assert out.startswith("created repository alice/docs\n")
    assert f"{info.repo_user} (uid {info.uid_number})" in out
    assert f"ssh://{info.repo_user}@backup.example.org:22/./docs" in out
    assert f"borg init --encryption=repokey-blake2 {info.url}" in out
    assert str(populated.root / info.repo_user / "docs") in out


@pytest.mark.parametrize(
    ("mode", "step", "command"),
    [
        (
            "import",
            "copy files into it (write-only) from the client with:",
            "rsync -a SOURCE/ {remote}",
        ),
        (
            "export",
            "copy its files (read-only) from the client with:",
            "rsync -a {remote} DESTINATION/",
        ),
    ],
)
def test_create_prints_what_an_rsync_client_runs(
    populated: Cli, mode: str, step: str, command: str
) -> None:
    out = populated.ok("repo", "create", "alice/docs", "-k", "laptop", "--mode", mode).stdout
    info = next(r for r in populated.snapshot()[2] if r.name == "docs")
    remote = f"{info.repo_user}@backup.example.org:"
    assert out.endswith(f"{step}\n  {command.format(remote=remote)}\n")
    assert "borg init" not in out
    created = populated.json("repo", "create", "alice/more", "--mode", mode)
    assert created["init_command"] is None
    assert created["client_command"].startswith("rsync -a ")


def test_create_of_a_disabled_repository_prints_no_client_command(populated: Cli) -> None:
    out = populated.ok("repo", "create", "alice/docs", "--mode", "disabled").stdout
    assert "borg init" not in out and "rsync" not in out
    assert out.endswith(
        "no client can log in while its mode is disabled: "
        "borghive repo set alice/docs --mode borg|import|export\n"
    )
    created = populated.json("repo", "create", "alice/more", "--mode", "disabled")
    assert (created["init_command"], created["client_command"]) == (None, None)


def test_create_json_has_every_field(populated: Cli) -> None:
    created = populated.json(
        "repo", "create", "bob/mail", "--key", "phone", "--append-only-key", "alice/desktop",
        "--quota", "1.5T", "--alert-after", "3d", "--mode", "import",
    )  # fmt: skip
    assert set(created) == {"repository", "init_command", "client_command"}
    repo = created["repository"]
    assert set(repo) == REPO_FIELDS
    assert (repo["owner"], repo["name"], repo["mode"]) == ("bob", "mail", "import")
    assert REPO_USER.fullmatch(repo["repo_user"])
    assert repo["uid_number"] == 200001  # alice/photos has the first number of the range
    assert repo["quota"] == 1_500_000_000_000
    assert repo["alert_after"] == 3 * 86400
    assert repo["key_count"] == 2
    assert repo["path"] == str(populated.root / repo["repo_user"] / "mail")
    assert repo["url"] == f"ssh://{repo['repo_user']}@backup.example.org:22/./mail"
    assert created["init_command"] is None  # an import repository is not for borg
    assert created["client_command"] == f"rsync -a SOURCE/ {repo['repo_user']}@backup.example.org:"
    assert (repo["last_access"], repo["last_update"]) == (None, None)

    shown = populated.json("repo", "show", "bob/mail")
    assert sorted((a["key"], a["mode"]) for a in shown["accesses"]) == [
        ("alice/desktop", "append-only"),
        ("bob/phone", "full"),
    ]


def test_list_for_people_and_scripts(populated: Cli) -> None:
    populated.ok("repo", "create", "bob/mail")
    listed = populated.json("repo", "list")
    assert [(r["owner"], r["name"]) for r in listed] == [("alice", "photos"), ("bob", "mail")]
    assert all(set(r) == REPO_FIELDS for r in listed)
    assert len({r["repo_user"] for r in listed}) == 2
    assert [r["key_count"] for r in listed] == [1, 0]
    assert [r["name"] for r in populated.json("repo", "list", "--user", "bob")] == ["mail"]

    human = populated.ok("repo", "list").stdout
    for repo in listed:
        assert f"{repo['owner']}/{repo['name']}" in human
        assert repo["repo_user"] in human
        assert str(repo["uid_number"]) in human
    assert_refused(populated.run("repo", "list", "--user", "nobody"), "'nobody'", "not found")


def test_show_for_people_and_scripts(populated: Cli) -> None:
    shown = populated.json("repo", "show", "alice/photos")
    assert set(shown) == {
        "repository",
        "accesses",
        "events",
        "last_statistic",
        "account",
        "accounts_backend",
        "borg",
        "last_report",
        "last_session",
        "open_move",
        "ping_url",
    }
    assert set(shown["repository"]) == REPO_FIELDS
    assert [(a["key"], a["mode"]) for a in shown["accesses"]] == [("alice/laptop", "full")]
    assert shown["accesses"][0]["fingerprint"].startswith("SHA256:")
    assert (shown["events"], shown["last_statistic"]) == ([], None)
    assert (shown["account"], shown["accounts_backend"]) == (None, "none")
    assert (shown["last_report"], shown["last_session"]) == (None, None)

    by_user = populated.json("repo", "show", shown["repository"]["repo_user"])
    assert by_user == shown

    human = populated.ok("repo", "show", "alice/photos").stdout
    for text in (
        "alice/photos",
        shown["repository"]["url"],
        "not managed (accounts backend none)",
        "alice/laptop",
        shown["accesses"][0]["fingerprint"],
    ):
        assert text in human


def test_set_changes_settings_and_none_clears(populated: Cli) -> None:
    changed = populated.json(
        "repo", "set", "alice/photos", "--quota", "500M", "--alert-after", "36h", "--mode",
        "disabled",
    )  # fmt: skip
    assert (changed["quota"], changed["alert_after"], changed["mode"]) == (
        500_000_000,
        36 * 3600,
        "disabled",
    )
    human = populated.ok("repo", "set", "alice/photos", "--quota", "none", "--mode", "borg")
    assert "alice/photos: mode borg, quota -, alert after 1d12h" in human.stdout
    (repo,) = populated.snapshot()[2]
    assert (repo.quota, repo.alert_after, repo.mode) == (None, 36 * 3600, "borg")


def test_grant_and_revoke(populated: Cli) -> None:
    granted = populated.json(
        "repo", "grant", "alice/photos", "desktop", "--append-only", "--from", "198.51.100.9"
    )
    assert granted["key"] == "alice/desktop"
    assert granted["mode"] == "append-only"
    assert granted["fingerprint"].startswith("SHA256:")
    assert granted["allowed_from"] == "198.51.100.9/32"
    (desktop,) = [
        a for a in populated.json("repo", "show", "alice/photos")["accesses"]
        if a["key"] == "alice/desktop"
    ]  # fmt: skip
    assert desktop["allowed_from"] == "198.51.100.9/32"
    out = populated.ok("repo", "grant", "alice/photos", "bob/phone").stdout
    assert out.strip() == "granted bob/phone full access to alice/photos"
    accesses = populated.json("repo", "show", "alice/photos")["accesses"]
    assert [(a["key"], a["mode"]) for a in accesses] == [
        ("alice/desktop", "append-only"),
        ("alice/laptop", "full"),
        ("bob/phone", "full"),
    ]
    # Granting again changes the mode instead of adding a second grant.
    populated.ok("repo", "grant", "alice/photos", "desktop")
    out = populated.ok("repo", "revoke", "alice/photos", "alice/laptop").stdout
    assert out.strip() == "revoked alice/laptop from alice/photos"
    accesses = populated.json("repo", "show", "alice/photos")["accesses"]
    assert [(a["key"], a["mode"]) for a in accesses] == [
        ("alice/desktop", "full"),
        ("bob/phone", "full"),
    ]

    before = populated.snapshot()
    assert_refused(populated.run("repo", "revoke", "alice/photos", "laptop"), "has no access")
    assert_refused(populated.run("repo", "grant", "alice/photos", "nokey"), "not found")
    assert_refused(populated.run("repo", "revoke", "alice/photos", "SHA256:nope"), "fingerprint")
    assert populated.snapshot() == before


def _make_data(cli: Cli, reference: str) -> Path:
    """Create the repository's data directory with a file in it, as borg would."""
    (repo,) = [r for r in cli.snapshot()[2] if f"{r.owner}/{r.name}" == reference]
    path = cli.root / repo.repo_user / repo.name
    path.mkdir(parents=True)
    (path / "config").write_text("[repository]\n")
    return path


def test_delete_asks_and_stops_on_no(populated: Cli) -> None:
    data = _make_data(populated, "alice/photos")
    before = populated.snapshot()
    result = populated.run("repo", "delete", "alice/photos", input="n\n")
    assert result.exit_code == 1
    assert "Delete repository alice/photos (its data stays on disk)?" in result.stderr
    assert "Traceback" not in result.stderr
    assert populated.snapshot() == before
    assert (data / "config").exists()

    result = populated.run("repo", "delete", "alice/photos", "--purge", input="n\n")
    assert result.exit_code == 1
    assert "DELETE ALL ITS BACKUP DATA" in result.stderr
    assert populated.snapshot() == before
    assert (data / "config").exists()


def test_delete_answered_yes_deletes(populated: Cli) -> None:
    result = populated.run("repo", "delete", "alice/photos", input="y\n")
    assert result.exit_code == 0, result.stderr
    assert populated.snapshot()[2] == []


def test_delete_keeps_the_data_and_says_where(populated: Cli) -> None:
    data = _make_data(populated, "alice/photos")
    out = populated.ok("repo", "delete", "alice/photos", "--yes").stdout
    repo_user = data.parent.name
    assert f"deleted repository alice/photos and its user {repo_user}" in out
    assert f"its data stays in {data}" in out
    assert (data / "config").read_text() == "[repository]\n"
    _, keys_after, repos_after = populated.snapshot()
    assert repos_after == []
    assert [k.grants for k in keys_after] == [(), (), ()]


def test_delete_purge_removes_the_data(populated: Cli) -> None:
    data = _make_data(populated, "alice/photos")
    out = populated.ok("repo", "delete", "alice/photos", "--purge", "--yes").stdout
    assert f"purged {data}" in out
    assert not data.parent.exists()
    assert populated.root.is_dir()
    assert populated.snapshot()[2] == []


def test_delete_json(populated: Cli) -> None:
    data = _make_data(populated, "alice/photos")
    deleted = populated.json("repo", "delete", "alice/photos", "--yes")
    assert set(deleted) == {"repository", "purged", "data_left"}
    assert (deleted["purged"], deleted["data_left"]) == (False, str(data))
    assert deleted["repository"]["name"] == "photos"


def test_create_duplicate_is_refused(populated: Cli) -> None:
    before = populated.snapshot()
    assert_refused(
        populated.run("repo", "create", "alice/photos"), "alice/photos", "already exists"
    )
    assert populated.snapshot() == before


def test_unknown_owner_repository_or_key_is_refused(
    populated: Cli, subtests: pytest.Subtests
) -> None:
    before = populated.snapshot()
    for command, fragment in (
        (("repo", "create", "nobody/docs"), "'nobody' not found"),
        (("repo", "create", "alice/docs", "--key", "nokey"), "alice/nokey not found"),
        (("repo", "create", "alice/docs", "--key", "bob/nokey"), "bob/nokey not found"),
        (("repo", "create", "alice/docs", "--append-only-key", "SHA256:x"), "fingerprint"),
        (("repo", "show", "alice/nothing"), "alice/nothing not found"),
        (("repo", "show", "rnothere"), "rnothere not found"),
        (("repo", "set", "bob/photos", "--quota", "1G"), "bob/photos not found"),
        (("repo", "grant", "alice/nothing", "laptop"), "not found"),
        (("repo", "revoke", "alice/nothing", "laptop"), "not found"),
        (("repo", "delete", "alice/nothing", "--yes"), "not found"),
        (("repo", "delete", "nobody/photos", "--yes", "--purge"), "not found"),
    ):
        with subtests.test(command=command):
            assert_refused(populated.run(*command), fragment)
    assert populated.snapshot() == before


def test_bad_names_are_refused_by_every_repo_command(
    populated: Cli, subtests: pytest.Subtests
) -> None:
    before = populated.snapshot()
    for name, reason in BAD_NAMES:
        with subtests.test(name=name):
            if "/" not in name:
                assert_refused(
                    populated.run("repo", "create", "--", f"{name}/docs"),
                    "invalid user name",
                    reason,
                )
            assert_refused(
                populated.run("repo", "create", "--", f"alice/{name}"),
                "invalid repository name",
                reason,
            )
            for command in (
                ("show",),
                ("set", "--quota", "1G"),
                ("grant", "--append-only"),
                ("revoke",),
                ("delete", "--yes", "--purge"),
            ):
                args = ["repo", *command, "--", f"alice/{name}"]
                if command[0] in ("grant", "revoke"):
                    args.append("laptop")
                assert_refused(populated.run(*args), "invalid repository name", reason)
            assert_refused(
                populated.run("repo", "grant", "--", "alice/photos", f"alice/{name}"),
                "invalid key name",
                reason,
            )
    assert_refused(populated.run("repo", "create", "alice"), "expected OWNER/NAME")
    assert populated.snapshot() == before


def test_malformed_settings_are_refused(populated: Cli, subtests: pytest.Subtests) -> None:
    before = populated.snapshot()
    cases = [
        *((f"--quota={v}", "invalid size") for v in ("12X", "0", "-5G", "1.2.3G", "5GiB", "G", "")),
        *((f"--quota={v}", "too large") for v in ("2000P",)),
        # borg serve refuses --storage-quota below 10M: every login would fail
        *(
            (f"--quota={v}", f"invalid quota {shown}: borg serve refuses a storage quota below 10M")
            for v, shown in (
                ("1M", "1M"),
                ("9.9M", "9.9M"),
                ("9999999", "9999999 bytes"),
                ("5", "5B"),
            )
        ),
        *((f"--alert-after={v}", "invalid duration") for v in ("3x", "0d", "1 d", "-1h", "36", "")),
        # An empty value (an unset shell variable) is refused, never taken as the default.
        *((f"--mode={v}", "invalid mode") for v in ("fast", "BORG", "none", "")),
    ]
    for option, fragment in cases:
        with subtests.test(option=option):
            assert_refused(populated.run("repo", "create", "alice/docs", option), fragment)
            assert_refused(populated.run("repo", "set", "alice/photos", option), fragment)
    # The same key twice, spelt alike: the options contradict each other (usage).
    assert_refused(
        populated.run(
            "repo", "create", "alice/docs", "-k", "laptop", "--append-only-key", "laptop"
        ),
        "--key laptop and --append-only-key laptop contradict each other",
        exit_code=2,
    )
    # Spelt differently, only the store knows they are one key.
    assert_refused(
        populated.run(
            "repo", "create", "alice/docs", "-k", "laptop", "--append-only-key", "alice/laptop"
        ),
        "both as --key and --append-only-key",
    )
    assert populated.snapshot() == before
