"""Parsing and validation of OpenSSH public keys (``authorized_keys`` format, one key).

Only the key itself is trusted afterwards: type and base64 blob are checked against the
SSH wire format (RFC 4253, RFC 5656, PROTOCOL.u2f) and stored apart from a sanitised
comment, so that nothing from the input can reach an ``authorized_keys`` line unchecked.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

from borghive.errors import InvalidInputError
from borghive.rules.ecpoints import CURVES, point_problem
from borghive.rules.keytypes import KEY_TYPES

MAX_KEY_TEXT = 16 * 1024
MAX_COMMENT = 100

_ECDSA_BITS = {"nistp256": 256, "nistp384": 384, "nistp521": 521}

# OpenSSH's bounds on RSA moduli (SSH_RSA_MINIMUM_MODULUS_SIZE, SSHBUF_MAX_BIGNUM)
_RSA_MIN_BITS = 1024
_RSA_MAX_BITS = 16384
_MAX_BIGNUM_BYTES = _RSA_MAX_BITS // 8
_CERTIFICATE_SUFFIX = "-cert-v01@openssh.com"
# OpenSSH before 10 also took a plain key's short name ("ED25519", "rsa") for the type
# inside the blob; OpenSSH 10 refuses it, and ssh-keygen never writes one: refused here too,
# so a key is accepted alike on Debian 12 and 13.
_SHORT_NAMES = frozenset((b"RSA", b"ED25519", b"ED25519-SK", b"ECDSA", b"ECDSA-SK", b"DSA"))
# authorized_keys options without a value (sshd(8), AUTHORIZED_KEYS FILE FORMAT)
_OPTION_WORDS = frozenset(
    (
        "agent-forwarding",
        "cert-authority",
        "no-agent-forwarding",
        "no-port-forwarding",
        "no-pty",
        "no-user-rc",
        "no-x11-forwarding",
        "port-forwarding",
        "pty",
        "restrict",
        "user-rc",
        "x11-forwarding",
        "no-touch-required",
        "verify-required",
    )
)

_FIELD_SEPARATOR = re.compile(r"[ \t]+")
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


def key_text(data: bytes) -> str:
    """The text of a key file's bytes for :func:`parse_public_key`. OpenSSH reads bytes:
    a comment need not be UTF-8 (ssh-keygen -C in a Latin-1 locale), so bytes that are
    not UTF-8 are kept as surrogate escapes; anywhere but in the comment (which is
    sanitised) they make the key invalid, as they do for OpenSSH."""
    return data.decode("utf-8", "surrogateescape")


def parse_public_key(text: str, *, rsa_min_bits: int = 3072) -> PublicKey:
    """Parse one OpenSSH public key line: ``type base64 [comment]``.

    Accepts what OpenSSH's ``sshkey_read`` accepts for the types of KEY_TYPES: fields
    separated by ASCII spaces and tabs only, canonical padded base64, a blob of the named
    type (checked as ``sshkey_fromb`` does, the ECDSA point on its curve included), with
    surrounding whitespace and one trailing newline. Refuses beyond OpenSSH what borghive
    decides itself: option prefixes (borghive sets the options), several lines, control
    characters, RSA keys under ``rsa_min_bits`` or with an even exponent or one under 3,
    and security keys whose application does not start ``ssh:`` (ssh-keygen makes none).
    Certificates and a UTF-8 byte order mark are refused saying so. The blob is stored
    re-encoded as OpenSSH writes it, so the fingerprint is the one ``ssh-keygen -l`` shows.
    Raises :class:`InvalidInputError` naming the problem.
    """
    if len(text) > MAX_KEY_TEXT:
        raise InvalidInputError(f"invalid SSH key: longer than {MAX_KEY_TEXT} bytes")
    stripped = text.strip(" \t\r\n")
    if not stripped.strip():  # nothing, or only Unicode whitespace such as U+00A0
        raise InvalidInputError("invalid SSH key: empty input")
    if stripped.startswith("\ufeff"):
        raise InvalidInputError(
            "invalid SSH key: the text starts with a UTF-8 byte order mark, which OpenSSH "
            "does not read; save the file without it"
        )
    if "\n" in stripped or "\r" in stripped:
        raise InvalidInputError("invalid SSH key: expected one key on one line")
    if any((ord(ch) < 32 and ch != "\t") or ord(ch) == 127 for ch in stripped):
        raise InvalidInputError("invalid SSH key: contains control characters")
    fields = _FIELD_SEPARATOR.split(stripped, maxsplit=2)
    for field in fields[:2]:
        _check_separators(field)
    key_type = fields[0]
    if key_type not in KEY_TYPES:
        raise InvalidInputError(_type_problem(key_type, fields))
    if len(fields) < 2:
        raise InvalidInputError("invalid SSH key: the base64 key data is missing")
    raw = _decode_base64(fields[1])
    bits, canonical = _check_blob(raw, key_type, rsa_min_bits)
    comment = _sanitise_comment(fields[2] if len(fields) > 2 else "")
    canonical_blob = base64.b64encode(canonical).decode()
    return PublicKey(key_type=key_type, blob=canonical_blob, bits=bits, comment=comment)


def _check_separators(field: str) -> None:
    """Refuse Unicode whitespace inside the type or base64 field: ``str.split`` would
    take it for a separator, OpenSSH does not (it splits on space and tab only)."""
    for ch in field:
        if ch.isspace():
            raise InvalidInputError(
                f"invalid SSH key: U+{ord(ch):04X} where a field separator belongs; "
                "OpenSSH separates the fields only with ASCII spaces and tabs"
            )


def _type_problem(key_type: str, fields: list[str]) -> str:
    """Why ``key_type``, the first field, is not a key type borghive accepts."""
    if key_type.endswith(_CERTIFICATE_SUFFIX):
        return (
            f"invalid SSH key: {key_type[:60]!r} is an OpenSSH certificate; certificates "
            "are not supported, add the plain public key (the .pub file without -cert)"
        )
    later = _FIELD_SEPARATOR.split(" ".join(fields[1:]))
    names_a_type_later = any(
        field in KEY_TYPES or field.endswith(_CERTIFICATE_SUFFIX) for field in later
    )
    words = key_type.lower().split(",")
    if any(ch in key_type for ch in '="') or all(word in _OPTION_WORDS for word in words):
        return (
            "invalid SSH key: options before the key type are not allowed "
            "(borghive sets the options itself)"
        )
    if names_a_type_later:
        return (
            f"invalid SSH key: {key_type[:40]!r} before the key type; the line must start "
            "with the key type (no host names or options)"
        )
    return (
        f"invalid SSH key: unsupported key type {key_type[:40]!r}; accepted: {', '.join(KEY_TYPES)}"
    )


def _decode_base64(field: str) -> bytes:
    """The blob of the base64 field, as OpenSSH's ``b64_pton`` reads it: padded, and the
    unused bits of the last character zero (Python alone would accept either wrong)."""
    if _BASE64.fullmatch(field) and len(field) % 4 == 0:
        raw = base64.b64decode(field)
        if base64.b64encode(raw).decode() == field:
            return raw
    raise InvalidInputError(
        "invalid SSH key: the key data is not valid base64 (as OpenSSH reads it: padded "
        "to a multiple of 4 characters, the unused bits zero)"
    )


def _sanitise_comment(comment: str) -> str:
    cleaned = _COMMENT_UNSAFE.sub("_", comment.strip()).strip("_")
    return cleaned[:MAX_COMMENT]


class _Reader:
    """Reads SSH wire-format strings and mpints from a blob, as OpenSSH's sshbuf does."""

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

    def cstring(self) -> bytes:
        """A name (``sshbuf_get_cstring``): one NUL at the very end is dropped, one inside
        is refused."""
        value = self.string()
        if value.endswith(b"\0"):
            value = value[:-1]
        if b"\0" in value:
            raise InvalidInputError("invalid SSH key: a NUL byte inside a name in the key data")
        return value

    def mpint(self) -> int:
        """A positive multiple-precision integer (``sshbuf_get_bignum2``): leading zero
        bytes are allowed, a negative or longer than 16384-bit number is refused."""
        raw = self.string()
        if raw and raw[0] & 0x80:
            raise InvalidInputError("invalid SSH key: negative number in the key data")
        if len(raw) > _MAX_BIGNUM_BYTES + 1 or (len(raw) == _MAX_BIGNUM_BYTES + 1 and raw[0]):
            raise InvalidInputError("invalid SSH key: a number in the key data is too large")
        return int.from_bytes(raw, "big")

    def done(self) -> None:
        if self.offset != len(self.data):
            raise InvalidInputError("invalid SSH key: trailing bytes after the key data")


def _wire(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def _wire_mpint(value: int) -> bytes:
    """The shortest mpint: no leading zero byte unless the top bit is set, zero empty."""
    return _wire(value.to_bytes(value.bit_length() // 8 + 1, "big") if value else b"")


def _check_blob(raw: bytes, key_type: str, rsa_min_bits: int) -> tuple[int, bytes]:
    """Bits and the blob as OpenSSH would write it again (names without a trailing NUL,
    numbers without leading zeros), or InvalidInputError."""
    reader = _Reader(raw)
    inner = reader.cstring()
    if inner.endswith(_CERTIFICATE_SUFFIX.encode()):
        raise InvalidInputError(
            f"invalid SSH key: the key data is an OpenSSH certificate ({inner[:60]!r}); "
            "certificates are not supported"
        )
    if inner.upper() in _SHORT_NAMES:
        raise InvalidInputError(
            f"invalid SSH key: the key data names its type by the short name {inner!r}, "
            f"which OpenSSH 10 refuses; write it as {key_type!r}"
        )
    if inner != key_type.encode():
        raise InvalidInputError(
            f"invalid SSH key: the key data is of type {inner[:40]!r}, "
            f"not {key_type!r} as the line says"
        )
    canonical = _wire(key_type.encode())
    bits: int
    if key_type in ("ssh-ed25519", "sk-ssh-ed25519@openssh.com"):
        public = reader.string()
        if len(public) != 32:
            raise InvalidInputError("invalid SSH key: an Ed25519 key must be 32 bytes")
        canonical += _wire(public)
        bits = 256
    elif key_type == "ssh-rsa":
        exponent = reader.mpint()
        modulus = reader.mpint()
        canonical += _wire_mpint(exponent) + _wire_mpint(modulus)
        bits = modulus.bit_length()
        if exponent < 3 or exponent % 2 == 0:
            raise InvalidInputError("invalid SSH key: bad RSA public exponent")
        if bits < max(rsa_min_bits, _RSA_MIN_BITS):
            raise InvalidInputError(
                f"invalid SSH key: RSA key of {bits} bits; "
                f"at least {max(rsa_min_bits, _RSA_MIN_BITS)} required"
            )
        if bits > _RSA_MAX_BITS:
            raise InvalidInputError(
                f"invalid SSH key: RSA keys over {_RSA_MAX_BITS} bits are refused"
            )
    else:  # ECDSA, plain or security key
        curve = reader.cstring().decode("ascii", "replace")
        if f"ecdsa-sha2-{curve}" not in key_type or curve not in CURVES:
            raise InvalidInputError(f"invalid SSH key: curve {curve[:20]!r} does not match")
        point = reader.string()
        problem = point_problem(curve, point)
        if problem is not None:
            raise InvalidInputError(f"invalid SSH key: {problem}")
        canonical += _wire(curve.encode()) + _wire(point)
        bits = _ECDSA_BITS[curve]
    if key_type.startswith("sk-"):
        application = reader.cstring()
        if not application.startswith(b"ssh:"):
            raise InvalidInputError("invalid SSH key: security key application must start 'ssh:'")
        canonical += _wire(application)
    reader.done()
    return bits, canonical
