"""Public keys for the SSH key tests: what ssh-keygen makes of each supported kind, and
the wire-format pieces to build or take apart a key blob by hand."""

from __future__ import annotations

import base64
import dataclasses
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from borghive.errors import InvalidInputError
from borghive.rules.sshkeys import parse_public_key

# name: (ssh-keygen -t, -b, key type, bits)
KEY_SPECS = {
    "ed25519": ("ed25519", None, "ssh-ed25519", 256),
    "rsa2048": ("rsa", 2048, "ssh-rsa", 2048),
    "rsa3072": ("rsa", 3072, "ssh-rsa", 3072),
    "rsa4096": ("rsa", 4096, "ssh-rsa", 4096),
    "ecdsa256": ("ecdsa", 256, "ecdsa-sha2-nistp256", 256),
    "ecdsa384": ("ecdsa", 384, "ecdsa-sha2-nistp384", 384),
    "ecdsa521": ("ecdsa", 521, "ecdsa-sha2-nistp521", 521),
}
ACCEPTED_BY_DEFAULT = [name for name in KEY_SPECS if name != "rsa2048"]


@dataclasses.dataclass(frozen=True)
class GeneratedKey:
    """A public key written by ssh-keygen, and what ``ssh-keygen -lf`` says about it."""

    path: Path
    text: str
    bits: int
    fingerprint: str

    @property
    def blob(self) -> bytes:
        return base64.b64decode(self.text.split()[1])


def keygen_listing(path: Path) -> tuple[int, str]:
    """Bits and fingerprint as ``ssh-keygen -lf`` prints them: ``256 SHA256:... comment (T)``."""
    output = subprocess.run(
        ["ssh-keygen", "-lf", str(path)], check=True, capture_output=True, text=True
    ).stdout
    fields = output.split()
    assert fields[1].startswith("SHA256:"), output
    return int(fields[0]), fields[1]


def ssh_string(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def read_strings(blob: bytes) -> Iterator[bytes]:
    offset = 0
    while offset < len(blob):
        length = int.from_bytes(blob[offset : offset + 4], "big")
        yield blob[offset + 4 : offset + 4 + length]
        offset += 4 + length


def key_line(key_type: str, blob: bytes, comment: str = "") -> str:
    line = f"{key_type} {base64.b64encode(blob).decode()}"
    return f"{line} {comment}" if comment else line


def sk_ed25519_blob(application: bytes = b"ssh:") -> bytes:
    return (
        ssh_string(b"sk-ssh-ed25519@openssh.com")
        + ssh_string(bytes(range(32)))
        + ssh_string(application)
    )


def sk_ecdsa_blob(point: bytes, application: bytes = b"ssh:") -> bytes:
    return (
        ssh_string(b"sk-ecdsa-sha2-nistp256@openssh.com")
        + ssh_string(b"nistp256")
        + ssh_string(point)
        + ssh_string(application)
    )


def ecdsa256_point(keys: dict[str, GeneratedKey]) -> bytes:
    """The public point of the generated P-256 key: a point OpenSSH knows is on the curve."""
    _, curve, point = read_strings(keys["ecdsa256"].blob)
    assert curve == b"nistp256"
    return point


def refusal(text: str, **options: int) -> str:
    with pytest.raises(InvalidInputError) as caught:
        parse_public_key(text, **options)
    message = caught.value.message
    assert message.startswith("invalid SSH key: ")
    return message
