"""Fixtures of the authkeys tests: real ed25519 keys, a store with one user and her keys,
and a directory the unprivileged user ``nobody`` can read."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from borghive.config import Config
from borghive.service.users import people as users

from .helpers import PublicKey


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The store fixtures read no ``BORGHIVE_*`` override from the caller's environment."""
    for name in list(os.environ):
        if name.startswith("BORGHIVE_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def public_keys(tmp_path_factory: pytest.TempPathFactory) -> list[PublicKey]:
    """24 real ed25519 public keys made by ssh-keygen, the same all session."""
    if shutil.which("ssh-keygen") is None:
        pytest.fail("ssh-keygen not found (apt-get install openssh-client)")
    directory = tmp_path_factory.mktemp("authkeys-keys")
    paths = [directory / f"key{number}" for number in range(24)]
    processes = [
        subprocess.Popen(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(path)],
            stdout=subprocess.DEVNULL,
        )
        for path in paths
    ]
    assert [process.wait() for process in processes] == [0] * len(paths)
    made = []
    for path in paths:
        key_type, blob = Path(f"{path}.pub").read_text().split()[:2]
        made.append(PublicKey(key_type, blob))
    return made


@pytest.fixture
def alice(store: Config) -> Config:
    """A bound, migrated store with users alice and bob (no keys yet)."""
    users.add_user("alice")
    users.add_user("bob")
    return store


@pytest.fixture
def world_readable() -> Iterator[Path]:
    """A fresh directory under /tmp that ``nobody`` may enter and read (pytest's own
    temporary directories are private to root)."""
    directory = Path(tempfile.mkdtemp(prefix="borghive-authkeys-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)
