"""The directory rights borghive's account needs, as the storage-host guide lists them
(its OpenLDAP olcAccess example, loaded into a real slapd): with them, doctor passes and
the whole repository life cycle works; without the search of the whole base, doctor
fails and ``repo create`` is refused (exit 78), each naming the DN and the right, with
nothing left behind."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from borghive.config import Config
from borghive.errors import ConfigError
from borghive.service.doctor import host as host_checks
from borghive.service.repositories import lifecycle as repos
from borghive.service.users import people as users
from borghive.store import open_store
from tests.harness.cli import borghive
from tests.harness.config import write_config
from tests.harness.slapd import Slapd, require_openldap

from .helpers import backend_for, members, people, with_ldap

pytestmark = pytest.mark.slapd

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "storage-host.md"
BASE_REFUSED = (
    "search of the subtree on dc=example,dc=org refused (uid and uidNumber collision "
    "checks): noSuchObject: it does not exist, or cn=borghive,ou=services,dc=example,dc=org "
    "may not see it"
)


def guide_rules() -> list[str]:
    """The guide's olcAccess values in order, LDIF unfolded, without their ``{n}``."""
    text = GUIDE.read_text()
    section = text[text.index("### The directory's rights") :]
    ldif = section[section.index("```ldif\n") + len("```ldif\n") :]
    ldif = ldif[: ldif.index("```")].replace("\n ", "")  # LDIF folding: drop newline + space
    return [
        re.sub(r"^\{\d+\}", "", line.removeprefix("olcAccess: "))
        for line in ldif.splitlines()
        if line.startswith("olcAccess: ")
    ]


def slapd_conf(rules: list[str]) -> str:
    """olcAccess values as slapd.conf ``access`` lines (the same syntax after "to")."""
    return "".join(f"access {rule}\n" for rule in rules)


def test_the_guide_lists_the_rights() -> None:
    rules = guide_rules()
    assert len(rules) == 5
    assert all(rule.startswith("to ") and rule.endswith("by * break") for rule in rules)
    assert rules[4].startswith('to dn.subtree="dc=example,dc=org"')


@pytest.fixture(scope="module")
def rights_slapd(request: pytest.FixtureRequest) -> Iterator[Slapd]:
    """A slapd whose service account has exactly the rules ``request.param`` keeps of the
    guide's (indices), and nothing from the harness's default rules."""
    require_openldap()
    keep: tuple[int, ...] = request.param
    rules = [rule for number, rule in enumerate(guide_rules()) if number in keep]
    server = Slapd(service_acl=slapd_conf(rules))
    # slapd dies with the thread that started it (PR_SET_PDEATHSIG): start it from this one
    assert threading.current_thread() is threading.main_thread()
    with server:
        yield server


def _config(store: Config, server: Slapd) -> Config:
    server.reset()
    config = with_ldap(store, server)
    users.add_user("alice")
    return config


ALL = (0, 1, 2, 3, 4)
WITHOUT_BASE_SEARCH = (0, 1, 2, 3)
WITHOUT_GROUP_WRITES = (0, 1, 4)


@pytest.mark.parametrize("rights_slapd", [ALL], indirect=True, ids=["guide"])
def test_with_the_guides_rights_everything_works(store: Config, rights_slapd: Slapd) -> None:
    config = _config(store, rights_slapd)
    check = host_checks.check_ldap(config)
    assert check.status == "ok", check.detail
    assert "may search dc=example,dc=org and read ou=people" in check.detail
    accounts = backend_for(config)
    try:
        created = repos.create_repository(config, accounts, "alice/photos")
        name = created.repository.repo_user
        assert set(people(rights_slapd)) == {name} and members(rights_slapd) == {name}
        repos.set_repository(config, accounts, "alice/photos", repos.RepoChanges(mode="disabled"))
        assert people(rights_slapd)[name]["shadowExpire"] == ["1"]
        repos.delete_repository(config, accounts, "alice/photos")
        assert people(rights_slapd) == {} and members(rights_slapd) == set()
    finally:
        accounts.close()


@pytest.mark.parametrize("rights_slapd", [WITHOUT_BASE_SEARCH], indirect=True, ids=["no-base"])
def test_without_the_base_search_doctor_fails_naming_dn_and_right(
    store: Config, rights_slapd: Slapd
) -> None:
    """What the guide used to list (writes under both OUs) and no more."""
    config = _config(store, rights_slapd)
    check = host_checks.check_ldap(config)
    assert check.status == "FAIL"
    assert check.detail == (
        f"LDAP 127.0.0.1:{rights_slapd.port}: {BASE_REFUSED} (grant the rights the "
        "storage-host guide lists (docs/how-to/storage-host.md))"
    )


@pytest.mark.parametrize("rights_slapd", [WITHOUT_BASE_SEARCH], indirect=True, ids=["no-base"])
def test_without_the_base_search_repo_create_names_dn_and_right(
    migrated: Config, rights_slapd: Slapd, tmp_path: Path
) -> None:
    rights_slapd.reset()
    config = with_ldap(migrated, rights_slapd)
    with open_store(config.store):
        users.add_user("alice")
    config_file = write_config(config, tmp_path / "borghive.toml")

    result = borghive(config_file, "repo", "create", "alice/photos")

    assert result.exit_code == 78, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"borghive: error: LDAP 127.0.0.1:{rights_slapd.port}: {BASE_REFUSED}",
        "borghive: hint: grant the rights the storage-host guide lists "
        "(docs/how-to/storage-host.md)",
    ]
    assert people(rights_slapd) == {} and members(rights_slapd) == set()
    listed = borghive(config_file, "repo", "list", "--json")
    assert listed.exit_code == 0 and listed.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "rights_slapd", [WITHOUT_GROUP_WRITES], indirect=True, ids=["no-group-writes"]
)
def test_a_refused_write_names_dn_and_right(store: Config, rights_slapd: Slapd) -> None:
    """doctor writes nothing, so it cannot see this one; repo create names it."""
    config = _config(store, rights_slapd)
    assert host_checks.check_ldap(config).status == "ok"
    accounts = backend_for(config)
    try:
        with pytest.raises(ConfigError) as raised:
            repos.create_repository(config, accounts, "alice/photos")
    finally:
        accounts.close()
    assert raised.value.message == (
        f"LDAP 127.0.0.1:{rights_slapd.port}: add on ou=groups,dc=example,dc=org refused "
        "(creating the repository group): insufficientAccessRights: "
        "cn=borghive,ou=services,dc=example,dc=org may not"
    )
    assert people(rights_slapd) == {} and members(rights_slapd) == set()
