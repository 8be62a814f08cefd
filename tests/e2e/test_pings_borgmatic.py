"""A real borgmatic with its healthchecks hook pointed at ``borghive pings``, backing up to a
local borg repository: a good run and a failing one, as the daemon stores them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.environment import missing_service
from tests.harness.pings import PingsProcess, PingsSite
from tests.harness.watch import wait_for

pytestmark = pytest.mark.e2e


def borgmatic(config: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    command = Path(sys.executable).with_name("borgmatic")
    if not command.exists() or shutil.which("borg") is None:
        missing_service("borgmatic (the test extra) and borg")
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("BORG", "BORGHIVE_"))},
        "HOME": str(tmp_path),
        "BORG_BASE_DIR": str(tmp_path / "borg"),
        "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes",
    }
    return subprocess.run(
        [str(command), "--config", str(config), "create", "--verbosity", "1"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


def write_borgmatic(tmp_path: Path, source: Path, url: str) -> Path:
    repository = tmp_path / "borg-repo"
    if not repository.exists():
        subprocess.run(
            ["borg", "init", "--encryption=none", str(repository)],
            check=True,
            capture_output=True,
            env={**os.environ, "BORG_BASE_DIR": str(tmp_path / "borg")},
        )
    config = tmp_path / "borgmatic.yaml"
    config.write_text(
        f"source_directories:\n  - {source}\nrepositories:\n  - path: {repository}\n"
        f"healthchecks:\n  ping_url: {url}\n  send_logs: true\n"
    )
    return config


def test_borgmatic_runs_are_recorded(
    tmp_path: Path, pings_site: PingsSite, ping_token: str, pinger: PingsProcess
) -> None:
    site = pings_site
    source = tmp_path / "source"
    source.mkdir()
    (source / "file").write_text("data\n")
    config = write_borgmatic(tmp_path, source, site.url(ping_token))
    good = borgmatic(config, tmp_path)
    assert good.returncode == 0, good.stdout + good.stderr
    wait_for(lambda: any(r["kind"] == "success" for r in site.reports()), 20, "the success")
    reports = site.reports()
    kinds = [r["kind"] for r in reports]
    assert kinds[0] == "start" and kinds[-1] == "success", kinds
    assert set(kinds) <= {"start", "log", "success"}
    finish = reports[-1]
    assert "Creating archive" in finish["body"] or "Creating archive" in "".join(
        r["body"] for r in reports
    )
    assert finish["duration"] is not None and 0 < finish["duration"] < 120
    assert finish["source"] == "127.0.0.1"

    # A source directory that is gone makes borg, then borgmatic, fail.
    shutil.rmtree(source)
    bad = borgmatic(config, tmp_path)
    assert bad.returncode != 0
    wait_for(lambda: any(r["kind"] == "fail" for r in site.reports()), 20, "the failure")
    failed = [r for r in site.reports() if r["kind"] == "fail"][-1]
    assert str(source) in failed["body"]
    events = [kind for kind, _ in site.events()]
    assert events[:2] == ["client-start", "client-success"]
    assert events[-1] == "client-fail"
    assert events.count("client-start") == 2
