"""Fixtures of the service tests: real SSH keys, generated once per session by
``ssh-keygen``, and a fake accounts backend."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from .helpers import FakeAccounts


@dataclass(frozen=True)
class GeneratedKey:
    """An ed25519 public key line and its fingerprint as ``ssh-keygen -lf`` prints it."""

    text: str
    fingerprint: str

    def with_comment(self, comment: str) -> str:
        key_type, blob = self.text.split()[:2]
        return f"{key_type} {blob} {comment}".rstrip()


@pytest.fixture(scope="session")
def ssh_key(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], GeneratedKey]:
    """``ssh_key(label)``: a real ed25519 key, the same for the same label all session;
    its comment is the label."""
    if shutil.which("ssh-keygen") is None:
        pytest.fail("ssh-keygen not found (apt-get install openssh-client)")
    directory = tmp_path_factory.mktemp("ssh-keys")
    cache: dict[str, GeneratedKey] = {}

    def generate(label: str) -> GeneratedKey:
        if label not in cache:
            path = directory / f"key{len(cache)}"
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", label, "-f", str(path)],
                check=True,
                capture_output=True,
            )
            listed = subprocess.run(
                ["ssh-keygen", "-l", "-E", "sha256", "-f", f"{path}.pub"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.split()
            cache[label] = GeneratedKey(Path(f"{path}.pub").read_text().strip(), listed[1])
        return cache[label]

    return generate


@pytest.fixture
def accounts() -> FakeAccounts:
    """A fresh in-memory accounts backend that records its calls."""
    return FakeAccounts()
