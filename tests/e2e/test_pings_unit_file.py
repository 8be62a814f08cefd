"""etc/systemd/borghive-pings.service: foreground, reloadable, hardened past the watch unit
(no capability, no repositories), and systemd's own check where systemd-analyze exists."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.harness.environment import BORGHIVE, missing_service

pytestmark = pytest.mark.e2e

UNIT = Path(__file__).resolve().parents[2] / "etc" / "systemd" / "borghive-pings.service"


def _service() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser["Service"]


def test_the_unit_runs_pings_in_the_foreground_hardened() -> None:
    service = _service()
    assert service["Type"] == "simple"
    assert service["ExecStart"].split()[-1] == "pings"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"] == "78"
    for key, value in {
        "CapabilityBoundingSet": "",
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "InaccessiblePaths": "-/repos",
        "ReadWritePaths": "/var/lib/borghive",
        "MemoryDenyWriteExecute": "yes",
    }.items():
        assert service[key] == value, key


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        missing_service("systemd-analyze not installed (apt-get install systemd)")
    copy = tmp_path / UNIT.name
    copy.write_text(UNIT.read_text().replace("/usr/local/bin/borghive", str(BORGHIVE)))
    result = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "borghive-pings" not in result.stderr, result.stderr
