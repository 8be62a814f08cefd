"""``borghive doctor`` on the command line: one line per check, ``--json``, exit codes."""

from __future__ import annotations

import json
import os
import re

import pytest
from typer.testing import CliRunner, Result

from tests.harness.cli import invoke
from tests.harness.doctor import USER, Host

LINE = re.compile(r"^(ok  |warn|FAIL)  [a-z ]+: \S.*$")


@pytest.fixture
def console_width() -> int:
    """Doctor's lines at the width of a plain terminal."""
    return 80


def doctor(host: Host, *args: str) -> Result:
    return invoke(
        CliRunner(),
        [
            "--config",
            str(host.config_file),
            "doctor",
            "--sshd-config",
            str(host.sshd_config),
            *args,
        ],
    )


def test_good_host_exits_0_with_one_line_per_check(host: Host) -> None:
    result = doctor(host)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    lines = result.stdout.splitlines()
    # The real /proc limits apply here; every other check is about the host built for it.
    assert len(lines) == 16, result.stdout
    assert all(LINE.match(line) for line in lines), result.stdout
    assert [line for line in lines if not line.startswith("ok  ")] == []
    assert lines[0].startswith(f"ok    sshd config: {host.sshd_config} (Match Group ")
    assert lines[2].startswith(f"ok    authkeys command: {host.authkeys_command}: root-owned")
    assert result.stderr == ""


def test_a_failure_exits_1(host: Host) -> None:
    host.database.chmod(0o600)
    os.chown(host.database, 0, 0)
    result = doctor(host)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    (failed,) = [line for line in lines if line.startswith("FAIL")]
    # Long details stay on one line however narrow the console.
    assert failed.startswith(f"FAIL  store access: {USER} cannot read {host.database}")
    assert failed.endswith(f"chmod 0640 {host.database}")
    assert result.stderr == ""


def test_warnings_alone_exit_0(host: Host) -> None:
    host.config.repos.root.chmod(0o775)
    result = doctor(host)
    assert result.exit_code == 0
    assert "warn  repos root: " in result.stdout


def test_json_lists_name_status_detail(host: Host) -> None:
    result = doctor(host, "--json")
    assert result.exit_code == 0, result.stderr
    checks = json.loads(result.stdout)
    assert isinstance(checks, list)
    assert all(list(check) == ["name", "status", "detail"] for check in checks)
    assert {check["status"] for check in checks} == {"ok"}
    assert checks[0]["name"] == "sshd config"


def test_json_failure_exits_1(host: Host) -> None:
    host.authkeys_command.parent.chmod(0o777)
    result = doctor(host, "--json")
    assert result.exit_code == 1
    checks = {check["name"]: check for check in json.loads(result.stdout)}
    assert checks["authkeys command"]["status"] == "FAIL"
    assert "world-writable" in checks["authkeys command"]["detail"]


def test_invalid_configuration_exits_78(host: Host) -> None:
    host.config_file.write_text("[store]\nnope = 1\n")
    result = doctor(host)
    assert result.exit_code == 78
    assert "store.nope: unknown key" in result.stderr
