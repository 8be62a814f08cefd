"""The repository tracks only what people write: nothing that a command, an interpreter or
the test command generates (a login copy names the checkout it was made in)."""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
from pathlib import Path

from tests.harness.environment import missing_service

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ("*.login-cache", "*.pyc", "*.pyo", "__pycache__/*", ".venv/*", "*.egg-info/*")


def tracked_files() -> list[str]:
    """``git ls-files`` of the checkout, one path per entry."""
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        missing_service("git or the checkout's .git is missing")
    result = subprocess.run(
        [git, "-C", str(ROOT), "ls-files", "-z"],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return [name for name in result.stdout.decode().split("\0") if name]


def generated(paths: list[str]) -> list[str]:
    """The paths (or any of their directories) that match a generated pattern."""
    found = []
    for path in paths:
        parts = path.split("/")
        suffixes = ["/".join(parts[i:]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(s, pattern) for s in suffixes for pattern in GENERATED):
            found.append(path)
    return found


def test_no_generated_file_is_tracked() -> None:
    paths = tracked_files()
    assert "pyproject.toml" in paths  # the listing is the real one
    assert generated(paths) == []


def test_the_pattern_matcher_finds_generated_files() -> None:
    assert generated(
        [
            "etc/borghive.toml.login-cache",
            "borghive/__pycache__/config.cpython-311.pyc",
            ".venv/bin/python",
            "borghive.egg-info/PKG-INFO",
            "etc/borghive.toml",
        ]
    ) == [
        "etc/borghive.toml.login-cache",
        "borghive/__pycache__/config.cpython-311.pyc",
        ".venv/bin/python",
        "borghive.egg-info/PKG-INFO",
    ]


def test_generated_files_are_ignored() -> None:
    """git check-ignore: a login copy beside the example, bytecode and the venv."""
    tracked_files()  # skips (fails under CI) without git
    names = ["etc/borghive.toml.login-cache", "borghive/x.pyc", ".venv/bin/python"]
    result = subprocess.run(
        ["git", "-C", str(ROOT), "check-ignore", "--no-index", *names],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.stdout.split() == names
