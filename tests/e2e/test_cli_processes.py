"""The installed ``borghive`` command in real processes, on SQLite and on PostgreSQL.

Concurrent ``repo create`` processes must never hand out the same repository user or
uidNumber; the whole life of a repository works from the shell with a key made by the real
``ssh-keygen``; a user error prints one line and no traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from borghive.config import Config
from tests.harness.environment import borghive_command

pytestmark = pytest.mark.e2e

CONCURRENT = 20
TIMEOUT = 120


def _environment() -> dict[str, str]:
    """The caller's environment without ``BORGHIVE_*`` overrides of the test config."""
    return {k: v for k, v in os.environ.items() if not k.startswith("BORGHIVE_")}


def _run(config_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [borghive_command(), "--config", str(config_file), *args],
        capture_output=True,
        text=True,
        env=_environment(),
        timeout=TIMEOUT,
        check=False,
    )


def _ok(config_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = _run(config_file, *args)
    assert result.returncode == 0, (args, result.returncode, result.stdout, result.stderr)
    assert result.stderr == ""
    return result


def _json(config_file: Path, *args: str) -> Any:
    return json.loads(_ok(config_file, *args, "--json").stdout)


def test_concurrent_creates_get_distinct_users_and_uids(
    migrated: Config, config_file: Path
) -> None:
    _ok(config_file, "user", "add", "alice")
    processes = [
        subprocess.Popen(
            [
                borghive_command(),
                "--config",
                str(config_file),
                "repo",
                "create",
                f"alice/r{n}",
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_environment(),
        )
        for n in range(CONCURRENT)
    ]
    outcomes = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=TIMEOUT)
        outcomes.append((process.returncode, stdout, stderr))
    failures = [(code, err) for code, _, err in outcomes if code != 0 or err]
    assert failures == []
    created = {json.loads(out)["repository"]["repo_user"] for _, out, _ in outcomes}

    listed = _json(config_file, "repo", "list")
    assert sorted(r["name"] for r in listed) == sorted(f"r{n}" for n in range(CONCURRENT))
    repo_users = {r["repo_user"] for r in listed}
    uids = {r["uid_number"] for r in listed}
    assert len(repo_users) == CONCURRENT
    assert repo_users == created
    assert len(uids) == CONCURRENT
    low = migrated.repos.uid_min
    assert uids == set(range(low, low + CONCURRENT))  # allocated in order, no gaps


def test_full_flow_with_a_real_ssh_key(config_file: Path, tmp_path: Path) -> None:
    keygen = shutil.which("ssh-keygen")
    assert keygen, "ssh-keygen (OpenSSH client) is required for the end-to-end tests"
    key = tmp_path / "id_ed25519"
    subprocess.run(
        [keygen, "-q", "-t", "ed25519", "-N", "", "-C", "alice@laptop", "-f", str(key)],
        check=True,
        capture_output=True,
        timeout=TIMEOUT,
    )
    listed = subprocess.run(
        [keygen, "-l", "-E", "sha256", "-f", f"{key}.pub"],
        check=True,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    fingerprint = listed.stdout.split()[1]

    assert "applied migration 1" in _ok(config_file, "migrate").stdout
    assert _json(config_file, "user", "add", "alice", "--email", "alice@example.org")["name"] == (
        "alice"
    )
    added = _json(config_file, "key", "add", "alice", f"{key}.pub")
    assert (added["name"], added["fingerprint"]) == ("alice-laptop", fingerprint)

    created = _json(
        config_file, "repo", "create", "alice/docs", "--append-only-key", "alice-laptop",
        "--quota", "2G",
    )["repository"]  # fmt: skip
    shown = _json(config_file, "repo", "show", "alice/docs")
    assert shown["repository"] == created
    assert shown["repository"]["quota"] == 2_000_000_000
    assert [(a["key"], a["fingerprint"], a["mode"]) for a in shown["accesses"]] == [
        ("alice/alice-laptop", fingerprint, "append-only")
    ]
    grants = _json(config_file, "key", "show", fingerprint)["grants"]
    assert [(g["repository"], g["mode"]) for g in grants] == [("alice/docs", "append-only")]

    deleted = _ok(config_file, "repo", "delete", "alice/docs", "--yes").stdout
    assert f"deleted repository alice/docs and its user {created['repo_user']}" in deleted
    assert _json(config_file, "repo", "list") == []
    assert _json(config_file, "key", "show", "alice/alice-laptop")["grants"] == []


def test_a_user_error_prints_one_line_and_no_traceback(migrated: Config, config_file: Path) -> None:
    result = _run(config_file, "user", "add", "bad name")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr == "borghive: error: invalid user name 'bad name': contains whitespace\n"
    assert _json(config_file, "user", "list") == []
