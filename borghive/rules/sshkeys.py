"""Parsing and validation of OpenSSH public keys (``authorized_keys`` format, one key).

Only the key itself is trusted afterwards: type and base64 blob are checked against the
SSH wire format (RFC 4253, RFC 5656, PROTOCOL.u2f) and stored apart from a sanitised
comment, so that nothing from the input can reach an ``authorized_keys`` line unchecked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from borghive.errors import InvalidInputError
from borghive.rules.keytypes import KEY_TYPES

MAX_KEY_TEXT = 16 * 1024
MAX_COMMENT = 100

_ECDSA_POINT_BYTES = {"nistp256": 65, "nistp384": 97, "nistp521": 133}
_ECDSA_BITS = {"nistp256": 256, "nistp384": 384, "nistp521": 521}

_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_COMMENT_UNSAFE = re.compile(r"[^A-Za-z0-9._@+=:,()\[\]-]+")


@dataclass(frozen=True)
class PublicKey:
    """A validated public key: ``canonical`` is ``"<type> <base64>"`` without comment."""

    key_type: str
    blob: str
    bits: int
    comment: str

    @property
    def canonical(self) -> str:
        return f"{self.key_type} {self.blob}"

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.blob)


def fingerprint(blob_base64: str) -> str:
    """SHA256 fingerprint as ``ssh-keygen -lf`` prints it (unpadded base64)."""
    digest = hashlib.sha256(base64.b64decode(blob_base64)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def parse_public_key(text: str, *, rsa_min_bits: int = 3072) -> PublicKey:
    """Parse one OpenSSH public key line.

    Accepts surrounding whitespace and one trailing newline; refuses option prefixes,
    several lines, control characters, unknown types, bad base64, a blob whose inner type
    differs from the outer one, trailing bytes, and RSA keys under ``rsa_min_bits``.
    Raises :class:`InvalidInputError` naming the problem.
    """
    if len(text) > MAX_KEY_TEXT:
        raise InvalidInputError(f"invalid SSH key: longer than {MAX_KEY_TEXT} bytes")
    stripped = text.strip(" \t\r\n")
    if not stripped:
        raise InvalidInputError("invalid SSH key: empty input")
    if "\n" in stripped or "\r" in stripped:
        raise InvalidInputError("invalid SSH key: expected one key on one line")
    if any((ord(ch) < 32 and ch != "\t") or ord(ch) == 127 for ch in stripped):
        raise InvalidInputError("invalid SSH key: contains control characters")
    fields = stripped.split(None, 2)
    if not fields:  # only non-ASCII whitespace such as U+00A0 or U+2028
        raise InvalidInputError("invalid SSH key: empty input")
    key_type = fields[0]
    if key_type not in KEY_TYPES:
        if any(ch in key_type for ch in '=",') or any(t in stripped for t in KEY_TYPES):
            raise InvalidInputError(
                "invalid SSH key: options before the key type are not allowed "
                "(borghive sets the options itself)"
            )
        raise InvalidInputError(
            f"invalid SSH key: unsupported key type {key_type[:40]!r}; "
            f"accepted: {', '.join(KEY_TYPES)}"
        )
    if len(fields) < 2:
        raise InvalidInputError("invalid SSH key: the base64 key data is missing")
    blob = fields[1]
    if not _BASE64.fullmatch(blob):
        raise InvalidInputError("invalid SSH key: the key data is not valid base64")
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError("invalid SSH key: the key data is not valid base64") from None
    bits = _check_blob(raw, key_type, rsa_min_bits)
    comment = _sanitise_comment(fields[2] if len(fields) > 2 else "")
    canonical_blob = base64.b64encode(raw).decode()
    return PublicKey(key_type=key_type, blob=canonical_blob, bits=bits, comment=comment)


def _sanitise_comment(comment: str) -> str:
    cleaned = _COMMENT_UNSAFE.sub("_", comment.strip()).strip("_")
    return cleaned[:MAX_COMMENT]


class _Reader:
    """Reads SSH wire-format strings and mpints from a blob."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def string(self) -> bytes:
        if self.offset + 4 > len(self.data):
            raise InvalidInputError("invalid SSH key: the key data is truncated")
        length = int.from_bytes(self.data[self.offset : self.offset + 4], "big")
        start = self.offset + 4
        if length > len(self.data) - start:
            raise InvalidInputError("invalid SSH key: the key data is truncated")
        self.offset = start + length
        return self.data[start : self.offset]

    def mpint(self) -> int:
        raw = self.string()
        if raw and raw[0] & 0x80:
            raise InvalidInputError("invalid SSH key: negative number in the key data")
        return int.from_bytes(raw, "big")

    def done(self) -> None:
        if self.offset != len(self.data):
            raise InvalidInputError("invalid SSH key: trailing bytes after the key data")


def _check_blob(raw: bytes, key_type: str, rsa_min_bits: int) -> int:
    reader = _Reader(raw)
    inner = reader.string()
    if inner != key_type.encode():
        raise InvalidInputError(
            f"invalid SSH key: the key data is of type {inner[:40]!r}, "
            f"not {key_type!r} as the line says"
        )
    bits: int
    if key_type in ("ssh-ed25519", "sk-ssh-ed25519@openssh.com"):
        if len(reader.string()) != 32:
            raise InvalidInputError("invalid SSH key: an Ed25519 key must be 32 bytes")
        bits = 256
    elif key_type == "ssh-rsa":
        exponent = reader.mpint()
        modulus = reader.mpint()
        bits = modulus.bit_length()
        if exponent < 3 or exponent % 2 == 0:
            raise InvalidInputError("invalid SSH key: bad RSA public exponent")
        if bits < rsa_min_bits:
            raise InvalidInputError(
                f"invalid SSH key: RSA key of {bits} bits; at least {rsa_min_bits} required"
            )
        if bits > 16384:
            raise InvalidInputError("invalid SSH key: RSA keys over 16384 bits are refused")
    else:  # ECDSA, plain or security key
        curve = reader.string().decode("ascii", "replace")
        if f"ecdsa-sha2-{curve}" not in key_type or curve not in _ECDSA_POINT_BYTES:
            raise InvalidInputError(f"invalid SSH key: curve {curve[:20]!r} does not match")
        point = reader.string()
        if len(point) != _ECDSA_POINT_BYTES[curve] or point[:1] != b"\x04":
            raise InvalidInputError("invalid SSH key: malformed ECDSA public point")
        bits = _ECDSA_BITS[curve]
    if key_type.startswith("sk-") and not reader.string().startswith(b"ssh:"):
        raise InvalidInputError("invalid SSH key: security key application must start 'ssh:'")
    reader.done()
    return bits
