"""SSH keys for the tests: real ones made by ``ssh-keygen``, and well-formed public key
lines with random key material (for tests that never log in with them)."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest


def keygen(path: Path, comment: str | None = None) -> Path:
    """A new ed25519 key pair without passphrase at ``path`` and ``path.pub``; ssh-keygen's
    default comment unless ``comment`` is given. Returns ``path``."""
    named = ["-C", comment] if comment is not None else []
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", *named, "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path


def _require_ssh_keygen() -> None:
    if shutil.which("ssh-keygen") is None:
        pytest.fail("ssh-keygen not found (apt-get install openssh-client)")


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
    _require_ssh_keygen()
    directory = tmp_path_factory.mktemp("ssh-keys")
    cache: dict[str, GeneratedKey] = {}

    def generate(label: str) -> GeneratedKey:
        if label not in cache:
            path = keygen(directory / f"key{len(cache)}", label)
            listed = subprocess.run(
                ["ssh-keygen", "-l", "-E", "sha256", "-f", f"{path}.pub"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.split()
            cache[label] = GeneratedKey(Path(f"{path}.pub").read_text().strip(), listed[1])
        return cache[label]

    return generate


@dataclass(frozen=True)
class PublicKey:
    """A real ed25519 key made by ssh-keygen."""

    key_type: str
    blob: str

    @property
    def text(self) -> str:
        return f"{self.key_type} {self.blob}"

    @property
    def fingerprint(self) -> str:
        """``SHA256:…`` as ssh-keygen -l prints it (hashlib here, not borghive's code)."""
        digest = hashlib.sha256(base64.b64decode(self.blob)).digest()
        return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


@pytest.fixture(scope="session")
def public_keys(tmp_path_factory: pytest.TempPathFactory) -> list[PublicKey]:
    """24 real ed25519 public keys made by ssh-keygen (all at once), the same all session."""
    _require_ssh_keygen()
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


def _wire(data: bytes) -> bytes:
    """One SSH wire-format string: 4-byte big-endian length, then the bytes."""
    return len(data).to_bytes(4, "big") + data


def _mpint(value: int) -> bytes:
    raw = value.to_bytes(value.bit_length() // 8 + 1, "big")  # leading 0 keeps it positive
    return _wire(raw)


def ed25519_line(comment: str = "") -> str:
    """A well-formed ``ssh-ed25519`` public key line with a random 32-byte key."""
    blob = _wire(b"ssh-ed25519") + _wire(os.urandom(32))
    line = f"ssh-ed25519 {base64.b64encode(blob).decode()}"
    return f"{line} {comment}\n" if comment else line + "\n"


def rsa_line(bits: int, comment: str = "") -> str:
    """A structurally valid ``ssh-rsa`` public key line whose modulus has ``bits`` bits."""
    modulus = (
        (1 << (bits - 1)) | int.from_bytes(os.urandom(bits // 8), "big") % (1 << (bits - 1)) | 1
    )
    blob = _wire(b"ssh-rsa") + _mpint(65537) + _mpint(modulus)
    return f"ssh-rsa {base64.b64encode(blob).decode()} {comment}".rstrip() + "\n"
