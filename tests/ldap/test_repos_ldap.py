"""The repository services with the LDAP accounts backend: a real slapd and a real store
(SQLite and PostgreSQL). What the directory holds is read back with plain ``ldapsearch``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from borghive.config import Config
from borghive.errors import ConfigError
from borghive.ldap.accounts import LdapAccounts
from borghive.service.repositories import lifecycle as repos
from borghive.service.repositories import view as repo_view
from borghive.service.repositories.lifecycle import RepoChanges, account_spec, find_repository
from borghive.service.repositories.sync import SyncItem, sync_accounts
from borghive.service.users import people as users
from tests.harness.slapd import Slapd

from .helpers import backend_for, entry, members, people, posix_ldif, with_ldap

pytestmark = pytest.mark.slapd

GHOST = "borghive ghost/x"


@pytest.fixture
def accounts(ldap_config: Config) -> Iterator[LdapAccounts]:
    backend = backend_for(ldap_config)
    yield backend
    backend.close()


def tree(slapd: Slapd) -> list[dict[str, list[str]]]:
    """The whole directory with operational attributes: entryCSN and modifyTimestamp change
    on every write, so equal trees mean nothing was written."""
    return slapd.ldapsearch(slapd.suffix, "(objectClass=*)", "*", "+")


def set_shell(slapd: Slapd, name: str, shell: str) -> None:
    slapd.ldapmodify(
        f"dn: uid={name},{slapd.people_dn}\nchangetype: modify\n"
        f"replace: loginShell\nloginShell: {shell}\n"
    )


def make(config: Config, accounts: LdapAccounts, *references: str) -> list[str]:
    """Create repositories (owners added as needed); their repository user names."""
    names = []
    for reference in references:
        owner = reference.split("/")[0]
        if owner not in {u.name for u in users.list_users()}:
            users.add_user(owner)
        names.append(repos.create_repository(config, accounts, reference).repository.repo_user)
    return names


def test_create_repository_provisions_the_account(
    ldap_config: Config, accounts: LdapAccounts, clean_slapd: Slapd
) -> None:
    users.add_user("alice")
    created = repos.create_repository(ldap_config, accounts, "alice/photos").repository
    name = created.repo_user

    found = entry(clean_slapd, name)
    assert found is not None
    assert found["dn"] == [f"uid={name},{clean_slapd.people_dn}"]
    assert sorted(found["objectClass"]) == ["account", "posixAccount", "shadowAccount"]
    assert found["uidNumber"] == [str(created.uid_number)] == ["200000"]
    assert found["gidNumber"] == [str(ldap_config.repos.gid)]
    assert found["homeDirectory"] == [str(ldap_config.repos.root / name)]
    assert (found["gecos"], found["loginShell"]) == (["borghive alice/photos"], ["/bin/sh"])
    assert "userPassword" not in found and "shadowExpire" not in found
    assert members(clean_slapd) == {name}
    repo = find_repository("alice/photos")
    assert accounts.get(name) == account_spec(ldap_config, repo, "alice")


def test_uid_numbers_held_in_the_directory_are_skipped(
    ldap_config: Config, accounts: LdapAccounts, clean_slapd: Slapd
) -> None:
    clean_slapd.ldapadd(
        posix_ldif(f"uid=carol,{clean_slapd.others_dn}", "carol", 200000, "Carol")
        + "\n"
        + posix_ldif(f"uid=dave,{clean_slapd.others_dn}", "dave", 200002, "Dave")
    )
    first, second, third = make(ldap_config, accounts, "alice/a", "alice/b", "alice/c")
    numbers = {n: people(clean_slapd)[n]["uidNumber"] for n in (first, second, third)}
    assert numbers == {first: ["200001"], second: ["200003"], third: ["200004"]}


def test_disabling_locks_and_enabling_unlocks(
    ldap_config: Config, accounts: LdapAccounts, clean_slapd: Slapd
) -> None:
    (name,) = make(ldap_config, accounts, "alice/photos")
    repos.set_repository(ldap_config, accounts, "alice/photos", RepoChanges(mode="disabled"))
    found = entry(clean_slapd, name)
    assert found is not None and found["shadowExpire"] == ["1"]
    assert repo_view.show_repository(ldap_config, accounts, name).account.matches  # type: ignore[union-attr]

    repos.set_repository(ldap_config, accounts, "alice/photos", RepoChanges(mode="import"))
    found = entry(clean_slapd, name)
    assert found is not None and "shadowExpire" not in found
    repos.set_repository(ldap_config, accounts, "alice/photos", RepoChanges(quota=10**9))
    assert entry(clean_slapd, name) == found  # no mode change: the directory is not touched


def test_delete_repository_removes_the_account_and_keeps_the_data(
    ldap_config: Config, accounts: LdapAccounts, clean_slapd: Slapd
) -> None:
    kept, gone = make(ldap_config, accounts, "alice/kept", "alice/gone")
    data = ldap_config.repos.root / gone / "gone"
    data.mkdir(parents=True)
    (data / "config").write_text("[repository]\n")

    deleted = repos.delete_repository(ldap_config, accounts, "alice/gone")
    assert deleted.data_left == str(data) and (data / "config").exists()
    assert set(people(clean_slapd)) == {kept}
    assert members(clean_slapd) == {kept}


def test_show_reports_a_matching_account_then_the_drift(
    ldap_config: Config, accounts: LdapAccounts, clean_slapd: Slapd
) -> None:
    (name,) = make(ldap_config, accounts, "alice/photos")
    state = repo_view.show_repository(ldap_config, accounts, "alice/photos").account
    assert state is not None and state.exists and state.matches and state.problems == ()

    set_shell(clean_slapd, name, "/bin/bash")
    state = repo_view.show_repository(ldap_config, accounts, "alice/photos").account
    assert state is not None and state.exists and not state.matches
    assert state.problems == ("shell is /bin/bash, expected /bin/sh",)

    clean_slapd.ldapdelete(f"uid={name},{clean_slapd.people_dn}")
    state = repo_view.show_repository(ldap_config, accounts, "alice/photos").account
    assert state is not None and not state.exists and state.problems == ("missing",)


@pytest.fixture
def out_of_step(ldap_config: Config, accounts: LdapAccounts, clean_slapd: Slapd) -> dict[str, Any]:
    """Three repositories: ``fine`` in step, ``missing``'s entry deleted, ``drifted``'s shell
    changed; an orphan ``rghost001`` (borghive's gecos, not in the store); ``alice`` under
    ou=people and ``rforeign1`` under ou=others, neither borghive's."""
    fine, missing, drifted = make(ldap_config, accounts, "alice/a", "alice/b", "alice/c")
    clean_slapd.ldapdelete(f"uid={missing},{clean_slapd.people_dn}")
    set_shell(clean_slapd, drifted, "/bin/bash")
    clean_slapd.ldapadd(
        posix_ldif(
            f"uid=rghost001,{clean_slapd.people_dn}", "rghost001", 200100, "borghive ghost/x"
        )
        + "\n"
        + posix_ldif(f"uid=alice,{clean_slapd.people_dn}", "alice", 1000, "Alice Liddell")
        + "\n"
        + posix_ldif(f"uid=rforeign1,{clean_slapd.others_dn}", "rforeign1", 1001, "borghive a/b")
    )
    return {"fine": fine, "missing": missing, "drifted": drifted}


def test_sync_dry_run_reports_without_writing(
    ldap_config: Config, accounts: LdapAccounts, clean_slapd: Slapd, out_of_step: dict[str, Any]
) -> None:
    before = tree(clean_slapd)
    for prune in (False, True):
        report = sync_accounts(ldap_config, accounts, dry_run=True, prune=prune)
        assert (report.backend, report.checked, report.dry_run) == ("ldap", 3, True)
        assert report.items == (
            *sorted(
                [
                    SyncItem(out_of_step["missing"], "create", "borghive alice/b", False),
                    SyncItem(
                        out_of_step["drifted"],
                        "repair",
                        "shell is /bin/bash, expected /bin/sh",
                        False,
                    ),
                ],
                key=lambda item: item.name,
            ),
            SyncItem("rghost001", "delete" if prune else "orphan", GHOST, False),
        )
    assert tree(clean_slapd) == before


def test_sync_repairs_and_prunes_only_when_asked(
    ldap_config: Config, accounts: LdapAccounts, clean_slapd: Slapd, out_of_step: dict[str, Any]
) -> None:
    report = sync_accounts(ldap_config, accounts)
    assert {(i.name, i.action, i.done) for i in report.items} == {
        (out_of_step["missing"], "create", True),
        (out_of_step["drifted"], "repair", True),
        ("rghost001", "orphan", False),
    }
    listed = people(clean_slapd)
    assert set(listed) == {*out_of_step.values(), "rghost001", "alice"}
    assert listed[out_of_step["drifted"]]["loginShell"] == ["/bin/sh"]
    assert listed[out_of_step["missing"]]["gecos"] == ["borghive alice/b"]
    assert members(clean_slapd) == set(out_of_step.values())

    report = sync_accounts(ldap_config, accounts, prune=True)
    assert report.items == (SyncItem("rghost001", "delete", GHOST, True),)
    assert set(people(clean_slapd)) == {*out_of_step.values(), "alice"}
    assert clean_slapd.ldapsearch(clean_slapd.others_dn, "(uid=rforeign1)", "1.1") != []

    report = sync_accounts(ldap_config, accounts, prune=True)
    assert report.in_step and report.checked == 3


def test_sync_repairs_an_entry_whose_gecos_was_changed(
    ldap_config: Config, accounts: LdapAccounts, clean_slapd: Slapd
) -> None:
    # Such an entry is no longer listed as borghive's; it is still the repository's account.
    (name,) = make(ldap_config, accounts, "alice/photos")
    clean_slapd.ldapmodify(
        f"dn: uid={name},{clean_slapd.people_dn}\nchangetype: modify\n"
        "replace: gecos\ngecos: Alice's photos\n"
    )
    (item,) = sync_accounts(ldap_config, accounts, dry_run=True).items
    assert (item.name, item.action) == (name, "repair")
    assert "gecos is Alice's photos" in item.detail
    sync_accounts(ldap_config, accounts)
    found = entry(clean_slapd, name)
    assert found is not None and found["gecos"] == ["borghive alice/photos"]
    assert sync_accounts(ldap_config, accounts).in_step


def test_users_dn_in_capitals(store: Config, clean_slapd: Slapd) -> None:
    # The server answers with the DN as it stores it; the uidNumber check after the add
    # compares DNs and must not take a difference in case for somebody else's entry.
    config = with_ldap(store, clean_slapd, users_dn="OU=People,DC=example,DC=org")
    backend = backend_for(config)
    try:
        (name,) = make(config, backend, "alice/photos")
        assert set(people(clean_slapd)) == {name}
        assert sync_accounts(config, backend).in_step
        repos.delete_repository(config, backend, "alice/photos")
        assert people(clean_slapd) == {}
    finally:
        backend.close()


def test_a_malformed_users_dn_is_a_configuration_error(store: Config, clean_slapd: Slapd) -> None:
    config = with_ldap(store, clean_slapd, users_dn="ou=people, dc=example, dc=org")
    backend = backend_for(config)
    users.add_user("alice")
    try:
        with pytest.raises(ConfigError) as raised:
            repos.create_repository(config, backend, "alice/photos")
    finally:
        backend.close()
    assert raised.value.exit_code == 78
    assert repo_view.list_repositories(config) == []
    assert people(clean_slapd) == {} and members(clean_slapd) == set()
