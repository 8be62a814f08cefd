"""LdapAccounts against a real slapd: what each call writes, read back with plain
``ldapsearch`` bound as the root DN, and what it reads back through borghive."""

from __future__ import annotations

from pathlib import Path

import pytest

from borghive.errors import ConfigError, ConflictError, NotFoundError
from borghive.ldap.accounts import LdapAccounts
from borghive.rules.accounts import days_since_epoch
from tests.harness.slapd import Slapd

from .helpers import GID, GROUP, entry, group, ldap_settings, members, people, posix_ldif, spec

pytestmark = pytest.mark.slapd

NAME = "r1234abcd"


def test_create_writes_the_entry_and_the_group(directory: LdapAccounts, clean_slapd: Slapd) -> None:
    assert group(clean_slapd) is None
    directory.create(spec())

    found = entry(clean_slapd, NAME)
    assert found is not None
    assert found["dn"] == [f"uid={NAME},{clean_slapd.people_dn}"]
    assert sorted(found["objectClass"]) == ["account", "posixAccount", "shadowAccount"]
    assert {key: value for key, value in found.items() if key not in ("dn", "objectClass")} == {
        "uid": [NAME],
        "cn": [NAME],
        "uidNumber": ["200001"],
        "gidNumber": [str(GID)],
        "homeDirectory": [f"/repos/{NAME}"],
        "loginShell": ["/bin/sh"],
        "gecos": ["borghive alice/photos"],
        "shadowLastChange": [str(days_since_epoch())],
    }
    assert days_since_epoch() > 0
    assert "userPassword" not in found and "shadowExpire" not in found
    made = group(clean_slapd)
    assert made is not None
    assert made["dn"] == [f"cn={GROUP},{clean_slapd.groups_dn}"]
    assert made["objectClass"] == ["posixGroup"]
    assert (made["gidNumber"], made["memberUid"]) == ([str(GID)], [NAME])


def test_group_membership_follows_create_and_delete(
    directory: LdapAccounts, clean_slapd: Slapd
) -> None:
    directory.create(spec("r1111aaaa", 200001))
    directory.create(spec("r2222bbbb", 200002))
    assert members(clean_slapd) == {"r1111aaaa", "r2222bbbb"}
    directory.delete("r1111aaaa")
    assert members(clean_slapd) == {"r2222bbbb"}
    assert set(people(clean_slapd)) == {"r2222bbbb"}
    directory.delete("r2222bbbb")
    group_left = group(clean_slapd)
    assert group_left is not None and "memberUid" not in group_left  # the group stays


def test_get_returns_what_create_wrote(directory: LdapAccounts) -> None:
    assert directory.get(NAME) is None
    directory.create(spec())
    assert directory.get(NAME) == spec()
    locked = spec("r5555eeee", 200005, locked=True)
    directory.create(locked)
    assert directory.get("r5555eeee") == locked


def test_lock_and_unlock(directory: LdapAccounts, clean_slapd: Slapd) -> None:
    directory.create(spec())
    directory.lock(NAME)
    found = entry(clean_slapd, NAME)
    assert found is not None and found["shadowExpire"] == ["1"]
    got = directory.get(NAME)
    assert got is not None and got.locked
    directory.lock(NAME)  # locking twice is harmless
    directory.unlock(NAME)
    found = entry(clean_slapd, NAME)
    assert found is not None and "shadowExpire" not in found
    assert directory.get(NAME) == spec()
    directory.unlock(NAME)  # so is unlocking an unlocked account


def test_update_repairs_drifted_attributes(directory: LdapAccounts, clean_slapd: Slapd) -> None:
    directory.create(spec())
    dn = f"uid={NAME},{clean_slapd.people_dn}"
    clean_slapd.ldapmodify(
        f"dn: {dn}\nchangetype: modify\nreplace: loginShell\nloginShell: /bin/bash\n-\n"
        "replace: homeDirectory\nhomeDirectory: /tmp\n-\nadd: shadowExpire\nshadowExpire: 1\n"
    )
    clean_slapd.ldapmodify(
        f"dn: cn={GROUP},{clean_slapd.groups_dn}\nchangetype: modify\n"
        f"delete: memberUid\nmemberUid: {NAME}\n"
    )
    drifted = {"shell": "/bin/bash", "home": Path("/tmp"), "locked": True, "in_group": False}
    assert directory.get(NAME) == spec(**drifted)

    directory.update(spec())
    assert directory.get(NAME) == spec()
    found = entry(clean_slapd, NAME)
    assert found is not None
    assert (found["loginShell"], found["homeDirectory"]) == (["/bin/sh"], [f"/repos/{NAME}"])
    assert "shadowExpire" not in found
    assert members(clean_slapd) == {NAME}


def test_delete_removes_the_entry_and_a_missing_one_is_no_error(
    directory: LdapAccounts, clean_slapd: Slapd
) -> None:
    directory.create(spec())
    directory.delete(NAME)
    assert entry(clean_slapd, NAME) is None
    assert directory.get(NAME) is None
    directory.delete(NAME)
    directory.delete("rneverwas")


def test_create_of_an_existing_name_conflicts_and_keeps_its_membership(
    directory: LdapAccounts, clean_slapd: Slapd
) -> None:
    directory.create(spec())
    with pytest.raises(ConflictError, match="exists already"):
        directory.create(spec(uid_number=200009))
    assert directory.get(NAME) == spec()  # the existing account keeps its group membership
    assert members(clean_slapd) == {NAME}


def test_create_with_a_uid_number_held_elsewhere_is_undone(
    directory: LdapAccounts, clean_slapd: Slapd
) -> None:
    clean_slapd.ldapadd(posix_ldif(f"uid=carol,{clean_slapd.others_dn}", "carol", 200001))
    with pytest.raises(ConflictError, match="uidNumber 200001"):
        directory.create(spec())
    assert entry(clean_slapd, NAME) is None
    assert members(clean_slapd) == set()


def test_list_accounts_pages_past_the_size_limit(
    directory: LdapAccounts, clean_slapd: Slapd
) -> None:
    clean_slapd.ldapadd(
        "\n".join(
            posix_ldif(
                f"uid=r{n:08d},{clean_slapd.people_dn}", f"r{n:08d}", 210000 + n, "borghive x/y"
            )
            for n in range(600)
        )
        + "\n"
        + posix_ldif(f"uid=alice,{clean_slapd.people_dn}", "alice", 1000, "Alice Liddell")
        + "\n"
        + posix_ldif(f"uid=nogecos,{clean_slapd.people_dn}", "nogecos", 1001)
    )
    directory.create(spec())

    listed = directory.list_accounts()
    assert len(listed) == 601 > clean_slapd.size_limit
    assert set(listed) == {f"r{n:08d}" for n in range(600)} | {NAME}
    assert listed[NAME] == spec()
    some = listed["r00000599"]
    assert (some.uid_number, some.gecos, some.in_group) == (210599, "borghive x/y", False)


def test_uid_and_name_in_use_see_foreign_entries(
    directory: LdapAccounts, clean_slapd: Slapd
) -> None:
    assert not directory.uid_in_use(4321)
    assert not directory.name_in_use("carol")
    clean_slapd.ldapadd(posix_ldif(f"uid=carol,{clean_slapd.others_dn}", "carol", 4321, "Carol"))
    assert directory.uid_in_use(4321)
    assert directory.name_in_use("carol")
    assert not directory.uid_in_use(4322)
    assert not directory.name_in_use("caro")
    directory.create(spec())
    assert directory.uid_in_use(200001) and directory.name_in_use(NAME)


def test_filters_are_escaped(directory: LdapAccounts, clean_slapd: Slapd) -> None:
    clean_slapd.ldapadd(posix_ldif(f"uid=carol,{clean_slapd.others_dn}", "carol", 4321))
    directory.create(spec())
    for sneaky in ("a*)(uid=*", "*", "carol)(|(uid=*", "r1234abcd)(uid=*", "\\2a"):
        assert not directory.name_in_use(sneaky), sneaky
    assert directory.get("*") is None
    assert directory.get("r1234abcd,ou=people") is None


def test_uid_in_use_with_many_holders_of_one_number(
    directory: LdapAccounts, clean_slapd: Slapd
) -> None:
    # More than one entry holding a number makes the size-limited search overflow.
    clean_slapd.ldapadd(
        posix_ldif(f"uid=carol,{clean_slapd.others_dn}", "carol", 4321)
        + "\n"
        + posix_ldif(f"uid=dave,{clean_slapd.others_dn}", "dave", 4321)
    )
    assert directory.uid_in_use(4321)


def test_changing_a_missing_account_is_not_found(directory: LdapAccounts) -> None:
    for change in (directory.lock, directory.unlock):
        with pytest.raises(NotFoundError, match=f"uid={NAME},ou=people") as raised:
            change(NAME)
        assert raised.value.exit_code == 1 and "repo sync" in (raised.value.hint or "")
    with pytest.raises(NotFoundError):
        directory.update(spec())


def test_bind_dn_without_password_file_is_a_configuration_error(clean_slapd: Slapd) -> None:
    backend = LdapAccounts(ldap_settings(clean_slapd, bind_password_file=None), GROUP, GID)
    with pytest.raises(ConfigError, match="password is mandatory") as raised:
        backend.get(NAME)
    assert raised.value.exit_code == 78
