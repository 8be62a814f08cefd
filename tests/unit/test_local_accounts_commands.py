"""The local backend without running shadow-utils: shadow expiry, error lines and classes,
reading a fake /etc, and a missing tool. ``tools_dir`` is an empty directory throughout,
so no command can run and the host is safe even as root."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from borghive.errors import ConfigError, ConflictError, InvalidInputError, NotFoundError
from borghive.local.accounts import (
    LocalAccounts,
    days_since_epoch,
    error_line,
    expiry_locks,
    tool_error,
)
from borghive.rules.accounts import AccountSpec

pytestmark = pytest.mark.usefixtures("host_files_untouched")

UID_WARNING = (
    "useradd warning: r1's uid 200001 outside of the UID_MIN 1000 and UID_MAX 60000 range."
)
EXISTS = "useradd: user 'r1' already exists"
GID = 2**31 - 3  # a gid no real host uses: the group lookup asks the host's NSS


def test_days_since_epoch() -> None:
    assert days_since_epoch(dt.date(1970, 1, 2)) == 1
    assert days_since_epoch(dt.date(2024, 1, 1)) == 19723


@pytest.mark.parametrize(
    ("field", "locked"),
    [
        ("", False),
        ("0", False),
        ("-1", False),
        ("junk", False),
        ("1", True),
        ("100", True),
        ("101", False),
    ],
)
def test_expiry_locks(field: str, locked: bool) -> None:
    assert expiry_locks(field, today=100) is locked


@pytest.mark.parametrize(
    ("stderr", "line"),
    [
        (f"{UID_WARNING}\n{EXISTS}\n", EXISTS),
        (f"{UID_WARNING}\n", UID_WARNING),
        ("\n  usermod: no changes  \n", "usermod: no changes"),
        ("", ""),
    ],
)
def test_error_line(stderr: str, line: str) -> None:
    assert error_line(stderr) == line


def test_tool_error_classes() -> None:
    exists = tool_error("useradd", 9, f"{UID_WARNING}\n{EXISTS}\n")
    assert type(exists) is ConflictError
    assert exists.message == EXISTS
    assert type(tool_error("groupadd", 4, "groupadd: GID '5' already exists")) is ConflictError
    busy = tool_error("userdel", 8, "userdel: user r1 is currently used by process 42")
    assert type(busy) is ConflictError
    assert busy.hint is not None
    missing = tool_error("usermod", 6, "usermod: user 'r1' does not exist")
    assert type(missing) is NotFoundError
    other = tool_error("useradd", 10, "")
    assert type(other) not in (ConflictError, NotFoundError)
    assert other.message == "useradd: useradd failed with exit code 10"
    unprefixed = tool_error("userdel", 1, "cannot open /etc/passwd")
    assert unprefixed.message == "userdel: cannot open /etc/passwd"


def fake_etc(root: Path, expire: str = "") -> Path:
    etc = root / "etc"
    etc.mkdir()
    (etc / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/bash\n"
        "# a comment\n"
        "broken line\n"
        f"r1:x:200001:{GID}:borghive alice/r1:/repos/r1:/bin/sh\n"
        "r2:x:200002:100:borghive alice/r2:/repos/r2:/bin/sh\n"
        "r3:x:200003:100:borghive alice/r3:/repos/r3:/bin/sh\n"
    )
    (etc / "shadow").write_text(f"root:*:19000:0:99999:7:::\nr1:!:19000:0::7::{expire}:\n")
    (etc / "group").write_text(f"root:x:0:\nborgrepos:x:{GID}:r2\n")
    return etc


def backend(tmp_path: Path, expire: str = "") -> LocalAccounts:
    tools = tmp_path / "tools"
    tools.mkdir()
    return LocalAccounts("borgrepos", GID, tools_dir=tools, etc_dir=fake_etc(tmp_path, expire))


R1 = AccountSpec("r1", 200001, GID, Path("/repos/r1"), "/bin/sh", "borghive alice/r1")


def test_get_reads_passwd_shadow_and_group(tmp_path: Path) -> None:
    accounts = backend(tmp_path, expire="1")
    assert accounts.get("r1") == AccountSpec(
        "r1", 200001, GID, Path("/repos/r1"), "/bin/sh", "borghive alice/r1", locked=True
    )
    assert accounts.get("nobody-here") is None
    assert accounts.get("root") == AccountSpec(
        "root", 0, 0, Path("/root"), "/bin/bash", "root", in_group=False
    )
    listed = accounts.list_accounts()
    assert sorted(listed) == ["r1", "r2", "r3"]
    assert listed["r2"].in_group  # a supplementary member
    assert not listed["r3"].in_group


def test_update_with_nothing_to_change_runs_nothing(tmp_path: Path) -> None:
    backend(tmp_path).update(R1)  # a command would raise ConfigError: no tools here


def test_update_runs_usermod_when_something_differs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="usermod: not found"):
        backend(tmp_path).update(AccountSpec(**{**R1.__dict__, "locked": True}))


def test_unreadable_shadow_is_a_config_error(tmp_path: Path) -> None:
    accounts = backend(tmp_path)
    (accounts.etc_dir / "shadow").unlink()
    with pytest.raises(ConfigError, match="shadow: cannot read"):
        accounts.get("r1")


def test_a_missing_tool_is_a_config_error(tmp_path: Path) -> None:
    accounts = backend(tmp_path)
    with pytest.raises(ConfigError, match="usermod: not found") as raised:
        accounts.lock("r1")
    assert raised.value.hint is not None
    spec = AccountSpec("r9", 200009, GID, Path("/nonexistent"), "/bin/sh", "borghive x/r9")
    with pytest.raises(ConfigError, match="groupadd: not found"):
        accounts.create(spec)


def test_option_like_names_are_refused_before_any_command(tmp_path: Path) -> None:
    accounts = backend(tmp_path)
    with pytest.raises(InvalidInputError):
        accounts.delete("-r")
    with pytest.raises(InvalidInputError):
        accounts.lock("")
