"""etc/systemd/borghive-maintain.{service,timer} and etc/cron.d/borghive-maintain: what they
run, how the service is hardened, and systemd's own check where systemd-analyze exists."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.harness.environment import BORGHIVE, missing_service

pytestmark = pytest.mark.e2e

ETC = Path(__file__).resolve().parents[2] / "etc"
SERVICE = ETC / "systemd" / "borghive-maintain.service"
TIMER = ETC / "systemd" / "borghive-maintain.timer"
CRON = ETC / "cron.d" / "borghive-maintain"


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


def test_the_service_runs_maintain_once_hardened_and_the_timer_starts_it_nightly() -> None:
    service = _unit(SERVICE)["Service"]
    assert service["Type"] == "oneshot"
    assert service["ExecStart"] == "/usr/local/bin/borghive maintain"
    for key, value in {
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "ReadWritePaths": "/repos /var/lib/borghive",
    }.items():
        assert service[key] == value, key
    timer = _unit(TIMER)["Timer"]
    assert timer["OnCalendar"] == "*-*-* 01:40:00"
    assert timer["Persistent"] == "true"


def test_the_cron_file_runs_maintain_as_root_nightly_keeping_only_errors() -> None:
    jobs = [
        line.split(None, 6)
        for line in CRON.read_text().splitlines()
        if line and not line.startswith("#") and "=" not in line
    ]
    assert jobs == [["40", "1", "*", "*", "*", "root", "borghive maintain >/dev/null"]]


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        missing_service("systemd-analyze not installed (apt-get install systemd)")
    for unit in (SERVICE, TIMER):
        (tmp_path / unit.name).write_text(
            unit.read_text().replace("/usr/local/bin/borghive", str(BORGHIVE))
        )
    result = subprocess.run(
        [analyze, "verify", str(tmp_path / SERVICE.name), str(tmp_path / TIMER.name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "borghive-maintain" not in result.stderr, result.stderr
