"""etc/systemd/borghive-watch.service: the settings STYLE's daemon rules ask for, and systemd's own
check of the file where systemd-analyze exists."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.environment import BORGHIVE, missing_service

pytestmark = pytest.mark.e2e

UNIT = Path(__file__).resolve().parents[2] / "etc" / "systemd" / "borghive-watch.service"


def _service() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser["Service"]


def test_the_unit_runs_watch_in_the_foreground_hardened() -> None:
    service = _service()
    assert service["Type"] == "simple"
    assert service["ExecStart"].split()[-1] == "watch"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"] == "78"
    for key, value in {
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "ReadOnlyPaths": "/repos",
        # the store's directory, and the login snapshot's beside the configuration
        "ReadWritePaths": "/var/lib/borghive /etc/borghive",
    }.items():
        assert service[key] == value, key
    assert "CAP_CHOWN" in service["CapabilityBoundingSet"].split()  # the snapshot's group


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        missing_service("systemd-analyze not installed (apt-get install systemd)")
    borghive = BORGHIVE
    copy = tmp_path / UNIT.name
    copy.write_text(UNIT.read_text().replace("/usr/local/bin/borghive", str(borghive)))
    result = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "borghive-watch" not in result.stderr, result.stderr


def test_the_unit_may_read_the_environment_of_a_repository_users_borg() -> None:
    """Sessions are recorded from /proc/PID/environ (the key marker, SSH_CONNECTION) of
    processes of other users: root needs CAP_SYS_PTRACE for that, so the unit's capability
    bounding set must hold it (and without it, the same read is refused)."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        missing_service("setpriv not installed (apt-get install util-linux)")
    capabilities = _service()["CapabilityBoundingSet"].split()
    assert "CAP_SYS_PTRACE" in capabilities
    client = subprocess.Popen(
        ["/bin/sleep", "60"], user=61_241, group=61_241, extra_groups=[],
        env={"BORGHIVE_KEY": "SHA256:unit"},
    )  # fmt: skip
    try:
        read = f"print(open('/proc/{client.pid}/environ', 'rb').read())"

        def reads(caps: list[str]) -> subprocess.CompletedProcess[str]:
            bounding = ",".join(["-all", *(f"+{c.removeprefix('CAP_').lower()}" for c in caps)])
            return subprocess.run(
                [setpriv, f"--bounding-set={bounding}", sys.executable, "-c", read],
                capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip

        allowed = reads(capabilities)
        assert allowed.returncode == 0 and "SHA256:unit" in allowed.stdout, allowed.stderr
        refused = reads([c for c in capabilities if c != "CAP_SYS_PTRACE"])
        assert refused.returncode != 0 and "Permission denied" in refused.stderr
    finally:
        client.kill()
        client.wait()
