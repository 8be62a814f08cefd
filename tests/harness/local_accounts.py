"""For the local accounts tests: a private copy of /etc per test.

Each test gets a :class:`Sandbox`: ``cp -a /etc`` into its temporary directory, and calls
of LocalAccounts run in a private mount namespace where that copy is bind-mounted over
/etc (the whole directory: useradd replaces /etc/passwd by rename, which a single-file
bind mount refuses with EBUSY) and an empty directory over /var/log (useradd resets the
new uid's lastlog and faillog records there). The module-scoped fixture
``host_files_untouched`` (a module's ``usefixtures``) checks that the host's account files
hash the same before and after the module. Without root, ``unshare`` or shadow-utils these
tests skip locally and fail under ``CI=true``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.harness.environment import missing_service

CALLS_SCRIPT = Path(__file__).resolve().parent / "account_calls.py"
TOOLS = ("groupadd", "useradd", "usermod", "userdel")
MARKER = ".borghive-test-copy"
HOST_FILES = (
    "/etc/passwd",
    "/etc/group",
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/subuid",
    "/etc/subgid",
    "/var/log/lastlog",
    "/var/log/faillog",
)
GROUP = "borgrepos"
GID = 200000


def _hashes() -> dict[str, str]:
    return {
        path: hashlib.sha256(Path(path).read_bytes()).hexdigest()
        for path in HOST_FILES
        if Path(path).exists()
    }


@pytest.fixture(scope="module")
def host_files_untouched() -> Iterator[None]:
    """The host's account files are byte for byte the same after the module."""
    before = _hashes()
    yield
    assert _hashes() == before


@dataclass
class Result:
    """One call's outcome: ``value``, or the error's class name, message and hint."""

    value: Any = None
    error: str | None = None
    message: str = ""
    hint: str | None = None


def spec(name: str = "r1234abcd", uid: int = 200001, **changes: Any) -> dict[str, Any]:
    """An account spec as the JSON object that account_calls.py turns into AccountSpec."""
    values: dict[str, Any] = {
        "name": name,
        "uid_number": uid,
        "gid_number": GID,
        "home": f"/repos/{name}",
        "shell": "/bin/sh",
        "gecos": f"borghive alice/{name}",
        "locked": False,
        "in_group": True,
    }
    values.update(changes)
    return values


class Sandbox:
    """A copy of /etc under ``root`` and a way to call LocalAccounts against it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.etc = root / "etc"
        self.log = root / "log"
        subprocess.run(["cp", "-a", "/etc", str(self.etc)], check=True)
        (self.etc / MARKER).write_text("borghive tests\n")
        self.log.mkdir()

    def call(self, *calls: list[Any], group: str = GROUP, gid: int = GID) -> list[Result]:
        """Make the calls in one process inside the namespace; one Result per call."""
        request = json.dumps({"group": group, "gid": gid, "calls": calls})
        script = 'mount --bind "$1" /etc && mount --bind "$2" /var/log && shift 2 && exec "$@"'
        completed = subprocess.run(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "--",
                "bash",
                "-c",
                script,
                "bash",
                str(self.etc),
                str(self.log),
                sys.executable,
                str(CALLS_SCRIPT),
                MARKER,
                request,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert completed.returncode == 0, completed.stderr
        return [Result(**item) for item in json.loads(completed.stdout)]

    def value(self, *calls: list[Any], **options: Any) -> Any:
        """The last call's value; every call must succeed."""
        results = self.call(*calls, **options)
        for result in results:
            assert result.error is None, result
        return results[-1].value

    def record(self, file: str, name: str) -> list[str] | None:
        """The fields of ``name``'s line in the copy's ``file``, or None."""
        for line in (self.etc / file).read_text().splitlines():
            fields = line.split(":")
            if fields[0] == name:
                return fields
        return None

    def append(self, file: str, line: str) -> None:
        with (self.etc / file).open("a") as handle:
            handle.write(line + "\n")


@pytest.fixture
def sandbox(request: pytest.FixtureRequest, tmp_path: Path) -> Sandbox:
    """A private copy of /etc that LocalAccounts calls act on (see the module docstring)."""
    if os.geteuid() != 0:
        missing_service("the local accounts tests need root")
    if shutil.which("unshare") is None:
        missing_service("unshare not found (apt-get install util-linux)")
    missing = [tool for tool in TOOLS if not Path("/usr/sbin", tool).is_file()]
    if missing:
        missing_service(f"shadow-utils missing: {', '.join(missing)} (apt-get install passwd)")
    return Sandbox(tmp_path)
