"""``borghive repo`` with the LDAP accounts backend: commands in-process against a real
slapd and store, and 20 concurrent ``borghive repo create`` processes."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from borghive.config import Config
from borghive.service.repositories import lifecycle as repos
from borghive.service.repositories import view as repo_view
from borghive.service.users import people as users
from borghive.store import open_store
from tests.harness.cli import borghive
from tests.harness.config import write_config
from tests.harness.environment import BORGHIVE
from tests.harness.slapd import Slapd

from .helpers import members, people, posix_ldif, with_ldap

pytestmark = pytest.mark.slapd


@pytest.fixture
def console_width() -> int:
    """Wide tables."""
    return 200


@pytest.fixture
def ldap_cli(migrated: Config, clean_slapd: Slapd, tmp_path: Path) -> Iterator[tuple[Path, Config]]:
    """(config file, config): the LDAP backend on a migrated store with user alice."""
    config = with_ldap(migrated, clean_slapd)
    with open_store(config.store):
        users.add_user("alice")
    yield write_config(config, tmp_path / "borghive.toml"), config


def repo_users(config: Config) -> dict[str, str]:
    """OWNER/NAME → repository user, from the store."""
    with open_store(config.store):
        return {f"{r.owner}/{r.name}": r.repo_user for r in repo_view.list_repositories(config)}


def _words(text: str) -> str:
    """``repo show``'s text with its column padding folded (the label column is as wide
    as its longest label)."""
    return " ".join(text.split())


def test_create_show_set_delete(ldap_cli: tuple[Path, Config], clean_slapd: Slapd) -> None:
    config_file, _ = ldap_cli
    created = borghive(config_file, "repo", "create", "alice/photos", "--json")
    assert created.exit_code == 0, created.stderr
    name = json.loads(created.stdout)["repository"]["repo_user"]
    assert set(people(clean_slapd)) == {name} and members(clean_slapd) == {name}

    shown = borghive(config_file, "repo", "show", "alice/photos")
    assert shown.exit_code == 0, shown.stderr
    assert "account present, matches" in _words(shown.stdout)

    clean_slapd.ldapmodify(
        f"dn: uid={name},{clean_slapd.people_dn}\nchangetype: modify\n"
        "replace: loginShell\nloginShell: /bin/bash\n-\nreplace: uidNumber\nuidNumber: 4242\n"
    )
    shown = borghive(config_file, "repo", "show", "alice/photos")
    assert (
        "account differs: uid_number is 4242, expected 200000; shell is /bin/bash, expected /bin/sh"
    ) in _words(shown.stdout)
    shown = borghive(config_file, "repo", "show", name, "--json")
    assert json.loads(shown.stdout)["account"] == {
        "exists": True,
        "problems": ["uid_number is 4242, expected 200000", "shell is /bin/bash, expected /bin/sh"],
    }

    disabled = borghive(config_file, "repo", "set", "alice/photos", "--mode", "disabled")
    assert disabled.exit_code == 0, disabled.stderr
    assert people(clean_slapd)[name]["shadowExpire"] == ["1"]

    deleted = borghive(config_file, "repo", "delete", "alice/photos", "--yes")
    assert deleted.exit_code == 0, deleted.stderr
    assert f"deleted repository alice/photos and its user {name}" in deleted.stdout
    assert people(clean_slapd) == {} and members(clean_slapd) == set()
    shown = borghive(config_file, "repo", "show", "alice/photos")
    assert shown.exit_code == 1


def test_a_missing_account(ldap_cli: tuple[Path, Config], clean_slapd: Slapd) -> None:
    config_file, config = ldap_cli
    assert borghive(config_file, "repo", "create", "alice/photos").exit_code == 0
    name = repo_users(config)["alice/photos"]
    clean_slapd.ldapdelete(f"uid={name},{clean_slapd.people_dn}")
    shown = borghive(config_file, "repo", "show", "alice/photos")
    assert shown.exit_code == 0, shown.stderr
    assert "account MISSING" in _words(shown.stdout)

    disabled = borghive(config_file, "repo", "set", "alice/photos", "--mode", "disabled")
    assert disabled.exit_code == 1
    assert disabled.stderr == (
        f"borghive: error: LDAP 127.0.0.1:{clean_slapd.port}: account "
        f"uid={name},{clean_slapd.people_dn} not found\n"
        "borghive: hint: 'borghive repo sync' creates missing accounts\n"
    )
    with open_store(config.store):
        assert repos.find_repository("alice/photos").mode == "borg"  # rolled back

    assert borghive(config_file, "repo", "sync").exit_code == 0
    assert borghive(config_file, "repo", "set", "alice/photos", "--mode", "disabled").exit_code == 0
    assert people(clean_slapd)[name]["shadowExpire"] == ["1"]


def test_sync_dry_run_json_then_sync(ldap_cli: tuple[Path, Config], clean_slapd: Slapd) -> None:
    config_file, config = ldap_cli
    for name in ("a", "b"):
        assert borghive(config_file, "repo", "create", f"alice/{name}").exit_code == 0
    names = repo_users(config)
    clean_slapd.ldapdelete(f"uid={names['alice/a']},{clean_slapd.people_dn}")
    clean_slapd.ldapadd(
        posix_ldif(f"uid=rghost001,{clean_slapd.people_dn}", "rghost001", 1234, "borghive ghost/x")
    )

    result = borghive(config_file, "repo", "sync", "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "backend": "ldap",
        "checked": 2,
        "items": [
            {"name": names["alice/a"], "action": "create", "detail": "borghive alice/a",
             "done": False},
            {"name": "rghost001", "action": "orphan", "detail": "borghive ghost/x", "done": False},
        ],
        "dry_run": True,
    }  # fmt: skip
    assert set(people(clean_slapd)) == {names["alice/b"], "rghost001"}

    result = borghive(config_file, "repo", "sync", "--prune")
    assert result.exit_code == 0, result.stderr
    assert "2 repositories checked, 2 accounts differ" in result.stdout
    assert set(people(clean_slapd)) == set(names.values())
    result = borghive(config_file, "repo", "sync", "--dry-run")
    assert result.stdout.strip() == (
        "2 repositories checked, 0 accounts differ (dry run: nothing changed)"
    )


@pytest.mark.e2e
def test_twenty_concurrent_creates(ldap_cli: tuple[Path, Config], clean_slapd: Slapd) -> None:
    config_file, config = ldap_cli
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BORGHIVE_")}
    processes = [
        subprocess.Popen(
            [BORGHIVE, "--config", str(config_file), "repo", "create", f"alice/r{n}", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
            cwd=config_file.parent,
        )
        for n in range(20)
    ]
    outcomes = [process.communicate(timeout=120) for process in processes]
    assert [p.returncode for p in processes] == [0] * 20, [err for _, err in outcomes]

    created = [json.loads(out)["repository"] for out, _ in outcomes]
    assert sorted(r["uid_number"] for r in created) == list(range(200000, 200020))
    names = {r["repo_user"] for r in created}
    assert len(names) == 20
    found = people(clean_slapd)
    assert set(found) == names
    assert {found[r["repo_user"]]["uidNumber"][0] for r in created} == {
        str(r["uid_number"]) for r in created
    }
    assert members(clean_slapd) == names
    assert repo_users(config).keys() == {f"alice/r{n}" for n in range(20)}
