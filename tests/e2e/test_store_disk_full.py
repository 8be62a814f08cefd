"""A SQLite store on a file system that is full: commands report the full disk (exit 75,
one error line, the place to free space), never "cannot rollback - no transaction is
active", and write nothing; after space is freed they work again.

The file system is a 1 MiB tmpfs mounted in a private mount namespace (``unshare -m``), so
the host sees nothing of it; it goes away with the namespace."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.harness.environment import BORGHIVE, missing_service

pytestmark = pytest.mark.e2e

SCRIPT = """
set -u
mount -t tmpfs -o size=1m,mode=0755 tmpfs {disk}
run() {{ echo "== $*"; {borghive} --config {config} "$@" 2>&1; echo "== exit $?"; }}
run migrate
run user add alice
run repo create alice/photos
dd if=/dev/zero of={disk}/fill bs=4k >/dev/null 2>&1
run user add bob
run repo create alice/music
run key add alice {key} --name laptop
rm {disk}/fill
run user add carol
run user list --json
"""


def _sections(output: str) -> dict[str, tuple[str, int]]:
    """``{command: (output, exit code)}`` of the script's ``run`` lines."""
    result: dict[str, tuple[str, int]] = {}
    for chunk in output.split("== ")[1:]:
        command, _, rest = chunk.partition("\n")
        if command.startswith("exit "):
            name = list(result)[-1]
            result[name] = (result[name][0], int(command.removeprefix("exit ")))
        else:
            result[command] = (rest, -1)
    return result


def test_a_full_disk_is_reported_as_such(tmp_path: Path) -> None:
    unshare = shutil.which("unshare")
    if os.geteuid() != 0 or unshare is None:
        missing_service("mounting a tmpfs in a private mount namespace needs root and unshare")
    disk = tmp_path / "disk"
    disk.mkdir()
    key = tmp_path / "laptop.pub"
    key.write_text(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO7g1c2cm0a1N8HHnIqV0R2Xr6c4a8cbc3NaZ9zXbX6H x\n"
    )
    config = tmp_path / "borghive.toml"
    (tmp_path / "repos").mkdir()
    config.write_text(
        f'[store]\nurl = "sqlite:///{disk}/borghive.db"\n[repos]\nroot = "{tmp_path}/repos"\n'
    )
    script = SCRIPT.format(
        disk=shlex.quote(str(disk)),
        borghive=shlex.quote(str(BORGHIVE)),
        config=shlex.quote(str(config)),
        key=shlex.quote(str(key)),
    )
    result = subprocess.run(
        [unshare, "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    runs = _sections(result.stdout)
    assert runs["user add alice"][1] == 0, runs
    assert runs["repo create alice/photos"][1] == 0, runs
    for command in ("user add bob", "repo create alice/music", "key add alice"):
        output, code = next(v for k, v in runs.items() if k.startswith(command))
        assert code == 75, (command, output)
        assert output.splitlines() == [
            f"borghive: error: store sqlite:///{disk}/borghive.db: the disk is full "
            "(database or disk is full)",
            f"borghive: hint: free space on the file system of {disk} and run the command again",
        ], (command, output)
    assert runs["user add carol"][1] == 0, runs
    people = json.loads(runs["user list --json"][0])
    assert sorted(person["name"] for person in people) == ["alice", "carol"]
    assert not (disk / "fill").exists()  # the tmpfs went with the namespace
