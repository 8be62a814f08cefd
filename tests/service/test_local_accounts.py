"""LocalAccounts against a private copy of /etc (see tests/harness/local_accounts.py): the
files shadow-utils writes, read back byte for byte, and the errors of each clash."""

from __future__ import annotations

from pathlib import Path

import pytest

from borghive.local.accounts import days_since_epoch
from tests.harness.local_accounts import GID, GROUP, Sandbox, spec

pytestmark = pytest.mark.usefixtures("host_files_untouched")

NAME = "r1234abcd"
UID = 200001


def test_create_writes_the_account_files(sandbox: Sandbox) -> None:
    before, created, after = sandbox.call(
        ["name_in_use", NAME], ["create", spec()], ["name_in_use", NAME]
    )
    assert (before.value, created.error, after.value) == (False, None, True)
    assert sandbox.record("passwd", NAME) == [
        NAME,
        "x",
        str(UID),
        str(GID),
        f"borghive alice/{NAME}",
        f"/repos/{NAME}",
        "/bin/sh",
    ]
    shadow = sandbox.record("shadow", NAME)
    assert shadow is not None
    assert shadow[1].startswith("!")  # no password: keys only
    assert shadow[2] == str(days_since_epoch())
    assert (shadow[4], shadow[7]) == ("", "")  # no password ageing, no expiry
    assert sandbox.record("group", GROUP) == [GROUP, "x", str(GID), ""]
    assert sandbox.record("gshadow", GROUP) is not None
    assert sandbox.record("subuid", NAME) is None
    assert sandbox.record("subgid", NAME) is None
    assert not Path(f"/repos/{NAME}").exists()


def test_get_returns_the_created_spec(sandbox: Sandbox) -> None:
    missing, _, found = sandbox.call(["get", NAME], ["create", spec()], ["get", NAME])
    assert missing.value is None
    assert found.value == spec()


def test_uid_in_use_after_create_only(sandbox: Sandbox) -> None:
    before, _, after, root = sandbox.call(
        ["uid_in_use", UID], ["create", spec()], ["uid_in_use", UID], ["uid_in_use", 0]
    )
    assert (before.value, after.value, root.value) == (False, True, True)


def test_name_in_use_sees_accounts_borghive_did_not_make(sandbox: Sandbox) -> None:
    assert sandbox.value(["name_in_use", "root"]) is True


def test_create_locked_sets_expiry_day_one(sandbox: Sandbox) -> None:
    found = sandbox.value(["create", spec(locked=True)], ["get", NAME])
    assert found["locked"] is True
    shadow = sandbox.record("shadow", NAME)
    assert shadow is not None
    assert shadow[7] == "1"


def test_lock_and_unlock(sandbox: Sandbox) -> None:
    sandbox.value(["create", spec()], ["lock", NAME])
    shadow = sandbox.record("shadow", NAME)
    assert shadow is not None
    assert shadow[7] == "1"
    assert sandbox.value(["get", NAME])["locked"] is True
    assert sandbox.value(["unlock", NAME], ["get", NAME])["locked"] is False
    shadow = sandbox.record("shadow", NAME)
    assert shadow is not None
    assert shadow[7] == ""
    assert shadow[1].startswith("!")  # unlocking never unlocks a password


def test_a_future_expiry_does_not_count_as_locked(sandbox: Sandbox) -> None:
    sandbox.value(["create", spec()])
    shadow = sandbox.record("shadow", NAME)
    assert shadow is not None
    future = [*shadow[:7], str(days_since_epoch() + 30), shadow[8]]
    path = sandbox.etc / "shadow"
    path.write_text(path.read_text().replace(":".join(shadow), ":".join(future)))
    assert sandbox.record("shadow", NAME) == future
    assert sandbox.value(["get", NAME])["locked"] is False


def test_lock_of_a_missing_account_is_not_found(sandbox: Sandbox) -> None:
    (locked,) = sandbox.call(["lock", NAME])
    assert locked.error == "NotFoundError"
    assert locked.message == f"usermod: user '{NAME}' does not exist"


def test_update_changes_what_differs(sandbox: Sandbox) -> None:
    changed = spec(  # noqa: S604 - shell is an account field here, not subprocess's
        shell="/usr/bin/git-shell",
        gecos=f"borghive bob/{NAME}",
        locked=True,
    )
    found = sandbox.value(["create", spec()], ["update", changed], ["get", NAME])
    assert found == changed
    assert sandbox.record("passwd", NAME) == [
        NAME,
        "x",
        str(UID),
        str(GID),
        f"borghive bob/{NAME}",
        f"/repos/{NAME}",
        "/usr/bin/git-shell",
    ]
    assert (sandbox.record("shadow", NAME) or [])[7] == "1"
    unlocked = sandbox.value(["update", spec()], ["get", NAME])
    assert unlocked == spec()


def test_update_moves_uid_and_home_without_moving_data(sandbox: Sandbox, tmp_path: Path) -> None:
    old_home, new_home = tmp_path / "old", tmp_path / "new"
    old_home.mkdir()
    (old_home / "data").write_text("repository\n")
    changed = spec(uid=200002, home=str(new_home))
    found = sandbox.value(["create", spec(home=str(old_home))], ["update", changed], ["get", NAME])
    assert found == changed
    assert (old_home / "data").read_text() == "repository\n"
    assert not new_home.exists()


def test_update_of_a_missing_account_is_not_found(sandbox: Sandbox) -> None:
    (updated,) = sandbox.call(["update", spec()])
    assert updated.error == "NotFoundError"


def test_delete_keeps_the_home_directory(sandbox: Sandbox, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "data").write_text("repository\n")
    gone = sandbox.value(["create", spec(home=str(home))], ["delete", NAME], ["get", NAME])
    assert gone is None
    assert sandbox.record("passwd", NAME) is None
    assert sandbox.record("shadow", NAME) is None
    assert (home / "data").read_text() == "repository\n"
    assert sandbox.record("group", GROUP) == [GROUP, "x", str(GID), ""]


def test_delete_of_a_missing_account_is_fine(sandbox: Sandbox) -> None:
    assert sandbox.value(["delete", NAME]) is None


def test_create_of_an_existing_name_conflicts(sandbox: Sandbox) -> None:
    _, again, other_uid = sandbox.call(
        ["create", spec()], ["create", spec()], ["create", spec(uid=200009)]
    )
    assert again.error == "ConflictError"
    # The first line of useradd's stderr is a warning about the uid range, not the error.
    assert again.message == f"useradd: user '{NAME}' already exists"
    assert other_uid.error == "ConflictError"


def test_create_with_a_taken_uid_conflicts(sandbox: Sandbox) -> None:
    _, taken = sandbox.call(["create", spec()], ["create", spec(name="r9999zzzz")])
    assert taken.error == "ConflictError"
    assert taken.message == f"useradd: UID {UID} is not unique"
    assert sandbox.record("passwd", "r9999zzzz") is None


def test_group_of_that_name_with_another_gid_conflicts(sandbox: Sandbox) -> None:
    sandbox.append("group", f"{GROUP}:x:12345:")
    sandbox.append("gshadow", f"{GROUP}:!::")
    (created,) = sandbox.call(["create", spec()])
    assert created.error == "ConflictError"
    assert created.message == f"group '{GROUP}' has gid 12345, expected {GID}"
    assert sandbox.record("passwd", NAME) is None


def test_gid_held_by_another_group_conflicts(sandbox: Sandbox) -> None:
    sandbox.append("group", f"othergroup:x:{GID}:")
    sandbox.append("gshadow", "othergroup:!::")
    (created,) = sandbox.call(["create", spec()])
    assert created.error == "ConflictError"
    assert created.message == f"groupadd: GID '{GID}' already exists"
    assert sandbox.record("group", GROUP) is None
    assert sandbox.record("passwd", NAME) is None


def test_an_existing_group_with_the_gid_is_used(sandbox: Sandbox) -> None:
    sandbox.append("group", f"{GROUP}:x:{GID}:someone")
    sandbox.append("gshadow", f"{GROUP}:!::someone")
    sandbox.value(["create", spec()])
    assert sandbox.record("group", GROUP) == [GROUP, "x", str(GID), "someone"]


def test_list_accounts_returns_only_borghive_accounts(sandbox: Sandbox) -> None:
    listed = sandbox.value(
        ["create", spec()],
        ["create", spec(name="r5678efgh", uid=200002)],
        ["create", spec(name="notours", uid=200003, gecos="Someone Else")],
        ["create", spec(name="notours2", uid=200004, gecos="borghive")],
        ["list_accounts"],
    )
    assert listed == {
        NAME: spec(),
        "r5678efgh": spec(name="r5678efgh", uid=200002),
    }


def test_in_group_follows_the_primary_group(sandbox: Sandbox) -> None:
    found = sandbox.value(["create", spec(gid_number=0)], ["get", NAME])
    assert found["in_group"] is False
    assert found["gid_number"] == 0


def test_names_that_look_like_options_are_refused(sandbox: Sandbox) -> None:
    results = sandbox.call(
        ["create", spec(name="-o")],
        ["lock", "-o"],
        ["unlock", "--help"],
        ["delete", "-r"],
        ["update", spec(name="-o")],
    )
    assert [result.error for result in results] == ["InvalidInputError"] * 5
    assert sandbox.record("group", GROUP) is None


def test_close_does_nothing(sandbox: Sandbox) -> None:
    assert sandbox.value(["close"]) is None
