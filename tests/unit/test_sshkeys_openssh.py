"""borghive reads a key file as OpenSSH does: each case is written to a file and read both
by ``ssh-keygen -l -f`` and by what ``key add`` runs (the bounded reader, then
parse_public_key at OpenSSH's own RSA floor of 1024 bits).

The agreement asserted: when borghive accepts, ssh-keygen accepts with the same bits and
fingerprint; when ssh-keygen accepts and borghive refuses, the line has something before
the key type (options or a host name, which borghive refuses as it sets the options
itself) or the refusal is one of the rules borghive sets beyond OpenSSH (OWN_RULES). The
corpus is single lines without control characters: several lines and control characters
are refused by rules of borghive's own, tested in test_sshkeys.py.
"""

from __future__ import annotations

import base64
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from borghive.errors import InvalidInputError
from borghive.inputs import read_input
from borghive.rules.ecpoints import CURVES
from borghive.rules.keytypes import KEY_TYPES
from borghive.rules.sshkeys import MAX_KEY_TEXT, PublicKey, key_text, parse_public_key
from tests.unit.sshkey_samples import (
    KEY_SPECS,
    GeneratedKey,
    read_strings,
    sk_ecdsa_blob,
    ssh_string,
)

CERT = b"-cert-v01@openssh.com"
# Refusals of keys OpenSSH reads, borghive's own: RSA exponents no RSA key has, and
# security keys ssh-keygen never makes (with anything before the key type: has_prefix).
OWN_RULES = (
    "bad RSA public exponent",
    # OpenSSH before 10 took a short type name inside the blob; 10 refuses it, as borghive
    "which OpenSSH 10 refuses",
    "security key application must start 'ssh:'",
)
TYPE_NAMES = {name.encode() for name in KEY_TYPES} | {
    name.encode().replace(b"@", b"-cert-v01@") if "@" in name else name.encode() + CERT
    for name in KEY_TYPES
}
UNICODE_SPACES = ["\xa0", "\u2000", "\u2003", "\u2009", "\u202f", "\u205f", "\u3000", "\u1680"]
SLOW = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def openssh_reads(path: Path) -> tuple[int, str] | None:
    """(bits, fingerprint) as ``ssh-keygen -l`` prints them, or None when it refuses."""
    done = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if done.returncode != 0:
        return None
    fields = done.stdout.split()
    return int(fields[0]), fields[1]


def has_prefix(path: Path) -> bool:
    """Whether the line has a field before a key type: OpenSSH skips it as options or a
    host name, borghive refuses it (it sets the options itself), whatever it is."""
    fields = re.split(rb"[ \t]+", path.read_bytes().strip(b" \t\n"))
    return fields[0] not in TYPE_NAMES and any(field in TYPE_NAMES for field in fields[1:])


def borghive_reads(path: Path) -> PublicKey | InvalidInputError:
    """What ``key add`` makes of the file: the key, or the refusal."""
    try:
        data = read_input(str(path), what="key file", limit=MAX_KEY_TEXT)
        return parse_public_key(key_text(data), rsa_min_bits=1024)
    except InvalidInputError as error:
        return error


def agree(directory: Path, content: bytes | str) -> PublicKey | InvalidInputError:
    """Assert that borghive and ssh-keygen agree on ``content``; return borghive's reading."""
    path = directory / "case.pub"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    openssh = openssh_reads(path)
    ours = borghive_reads(path)
    if isinstance(ours, PublicKey):
        assert openssh == (ours.bits, ours.fingerprint), (content, ours)
    else:
        assert (
            openssh is None or has_prefix(path) or any(rule in ours.message for rule in OWN_RULES)
        ), (
            content,
            ours.message,
            openssh,
        )
    return ours


def accepted(directory: Path, content: bytes | str) -> PublicKey:
    ours = agree(directory, content)
    assert isinstance(ours, PublicKey), ours.message
    return ours


def refused(directory: Path, content: bytes | str) -> str:
    ours = agree(directory, content)
    assert isinstance(ours, InvalidInputError), (content, ours)
    return ours.message


def line(key_type: str, blob: bytes, comment: str = "c") -> str:
    return f"{key_type} {base64.b64encode(blob).decode()} {comment}\n"


def rsa_blob(exponent: bytes, modulus: bytes, name: bytes = b"ssh-rsa") -> bytes:
    return ssh_string(name) + ssh_string(exponent) + ssh_string(modulus)


def ecdsa_blob(curve: str, point: bytes) -> bytes:
    return (
        ssh_string(f"ecdsa-sha2-{curve}".encode()) + ssh_string(curve.encode()) + ssh_string(point)
    )


def encode_point(curve: str, x: int, y: int) -> bytes:
    size = CURVES[curve].coordinate_bytes
    return b"\x04" + x.to_bytes(size, "big") + y.to_bytes(size, "big")


def y_for(curve: str, x: int) -> int | None:
    """A y with (x, y) on the curve, or None (all three primes are 3 mod 4)."""
    params = CURVES[curve]
    right = (x * x * x - 3 * x + params.b) % params.p
    y = pow(right, (params.p + 1) // 4, params.p)
    return y if y * y % params.p == right else None


@pytest.fixture(scope="module")
def certificates(
    keys: dict[str, GeneratedKey], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """Certificate lines made by ``ssh-keygen -s`` for three of the keys."""
    directory = tmp_path_factory.mktemp("certificates")
    ca = directory / "ca"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ca)], check=True, timeout=60
    )
    made = {}
    for name in ("ed25519", "ecdsa256", "rsa3072"):
        public = directory / f"{name}.pub"
        public.write_text(keys[name].text)
        subprocess.run(
            ["ssh-keygen", "-q", "-s", str(ca), "-I", name, "-n", "alice", str(public)],
            check=True,
            capture_output=True,
            timeout=60,
        )
        made[name] = (directory / f"{name}-cert.pub").read_text()
    return made


# --- the keys ssh-keygen makes, and how they may be written ---------------------------


@pytest.mark.parametrize("name", list(KEY_SPECS))
def test_every_key_ssh_keygen_makes_is_read_alike(
    keys: dict[str, GeneratedKey], name: str, tmp_path: Path
) -> None:
    key = accepted(tmp_path, keys[name].text)
    assert key.fingerprint == keys[name].fingerprint
    type_field, blob_field = keys[name].text.split()[:2]
    for spacing in (f"{type_field}\t{blob_field}\tc", f" \t{type_field}  {blob_field} \t c \n"):
        assert accepted(tmp_path, spacing).fingerprint == key.fingerprint


@pytest.mark.parametrize("space", UNICODE_SPACES)
def test_unicode_spaces_do_not_separate_fields(
    ed25519: GeneratedKey, space: str, tmp_path: Path
) -> None:
    type_field, blob_field = ed25519.text.split()[:2]
    for text in (
        f"{type_field}{space}{blob_field} c\n",
        f"{type_field} {blob_field}{space}c\n",
        f"{type_field} {blob_field}{space}\n",
        f"{type_field}{space}{blob_field}\n",
    ):
        message = refused(tmp_path, text)
        assert f"U+{ord(space):04X} where a field separator belongs" in message
        assert "only with ASCII spaces and tabs" in message
    # Inside the comment it is only a character of the comment, for both.
    assert accepted(tmp_path, f"{type_field} {blob_field} a{space}b\n").comment == "a_b"


def test_a_byte_order_mark_is_refused_saying_so(ed25519: GeneratedKey, tmp_path: Path) -> None:
    for content in (
        b"\xef\xbb\xbf" + ed25519.text.encode(),
        b" \xef\xbb\xbf" + ed25519.text.encode(),
    ):
        message = refused(tmp_path, content)
        assert "starts with a UTF-8 byte order mark" in message
        assert "options" not in message


def test_certificates_are_refused_saying_so(
    certificates: dict[str, str], keys: dict[str, GeneratedKey], tmp_path: Path
) -> None:
    for name, text in certificates.items():
        path = tmp_path / "cert.pub"
        path.write_text(text)
        assert openssh_reads(path) is not None  # OpenSSH reads it: a refusal of ours
        ours = borghive_reads(path)
        assert isinstance(ours, InvalidInputError)
        assert "is an OpenSSH certificate; certificates are not supported" in ours.message
        assert "options" not in ours.message
        # The certificate's blob under the plain key's type: refused by both.
        blob = base64.b64decode(text.split()[1])
        message = refused(tmp_path, line(KEY_SPECS[name][2], blob))
        assert "the key data is an OpenSSH certificate" in message


def test_a_comment_need_not_be_utf8(ed25519: GeneratedKey, tmp_path: Path) -> None:
    type_field, blob_field = ed25519.text.split()[:2]
    key = accepted(tmp_path, f"{type_field} {blob_field} J".encode() + b"\xfcrgen\n")
    assert key.comment == "J_rgen"


# --- base64 ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ecdsa256", "rsa3072", "ed25519"])
def test_base64_is_read_as_openssh_reads_it(
    keys: dict[str, GeneratedKey], name: str, tmp_path: Path
) -> None:
    type_field, blob_field = keys[name].text.split()[:2]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    body = blob_field.rstrip("=")
    padding = blob_field[len(body) :]
    for blob in (blob_field + "=", blob_field + "====", blob_field[:-1]):
        assert "not valid base64" in refused(tmp_path, f"{type_field} {blob} c\n")
    if padding:  # the unused bits of the last character must be zero, and padding is due
        last = alphabet[alphabet.index(body[-1]) + 1]
        for blob in (body[:-1] + last + padding, body):
            assert "not valid base64" in refused(tmp_path, f"{type_field} {blob} c\n")


@SLOW
@given(
    name=st.sampled_from(list(KEY_SPECS)),
    position=st.integers(min_value=0),
    replacement=st.text(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", max_size=3
    ),
    removed=st.integers(min_value=0, max_value=3),
)
def test_edited_base64_is_read_alike(
    keys: dict[str, GeneratedKey],
    tmp_path: Path,
    name: str,
    position: int,
    replacement: str,
    removed: int,
) -> None:
    type_field, blob_field = keys[name].text.split()[:2]
    at = position % (len(blob_field) + 1)
    agree(tmp_path, f"{type_field} {blob_field[:at]}{replacement}{blob_field[at + removed :]} c\n")


# --- the blob --------------------------------------------------------------------------


@SLOW
@given(name=st.sampled_from(list(KEY_SPECS)), cut=st.integers(min_value=1))
def test_truncated_blobs_are_refused_by_both(
    keys: dict[str, GeneratedKey], tmp_path: Path, name: str, cut: int
) -> None:
    blob = keys[name].blob
    message = refused(tmp_path, line(KEY_SPECS[name][2], blob[: -(1 + cut % len(blob))]))
    assert "truncated" in message or "not valid base64" in message or "32 bytes" in message


@SLOW
@given(name=st.sampled_from(list(KEY_SPECS)), extra=st.binary(min_size=1, max_size=40))
def test_trailing_bytes_are_refused_by_both(
    keys: dict[str, GeneratedKey], tmp_path: Path, name: str, extra: bytes
) -> None:
    refused(tmp_path, line(KEY_SPECS[name][2], keys[name].blob + extra))


@SLOW
@given(
    name=st.sampled_from(list(KEY_SPECS)),
    position=st.integers(min_value=0),
    replacement=st.binary(max_size=6),
    removed=st.integers(min_value=0, max_value=6),
)
def test_corrupted_blobs_are_read_alike(
    keys: dict[str, GeneratedKey],
    tmp_path: Path,
    name: str,
    position: int,
    replacement: bytes,
    removed: int,
) -> None:
    blob = keys[name].blob
    at = position % (len(blob) + 1)
    agree(tmp_path, line(KEY_SPECS[name][2], blob[:at] + replacement + blob[at + removed :]))


@pytest.mark.parametrize(
    "inner",
    [
        b"ssh-ed25519",
        b"ssh-rsa",
        b"ecdsa-sha2-nistp256",
        b"ecdsa-sha2-nistp384",
        b"sk-ssh-ed25519@openssh.com",
        b"ssh-ed25519-cert-v01@openssh.com",
        b"ED25519",
        b"ed25519",
        b"RSA",
        b"rsa",
        b"ECDSA",
        b"ED25519-SK",
        b"ssh-ed25519\0",
        b"ssh-ed25519\0\0",
        b"ssh-ed\0" + b"25519",
        b"",
    ],
)
@pytest.mark.parametrize("name", ["ed25519", "ecdsa256", "rsa3072"])
def test_the_type_named_inside_the_blob_is_read_alike(
    keys: dict[str, GeneratedKey], tmp_path: Path, inner: bytes, name: str
) -> None:
    outer, *rest = read_strings(keys[name].blob)
    blob = ssh_string(inner) + b"".join(ssh_string(part) for part in rest)
    ours = agree(tmp_path, line(KEY_SPECS[name][2], blob))
    if inner.rstrip(b"\0") == outer and inner.count(b"\0") <= 1:
        # One NUL ends a name for OpenSSH; the key is stored as OpenSSH writes it again.
        # A short name ("ED25519", "rsa") is refused, as OpenSSH 10 refuses it.
        assert isinstance(ours, PublicKey)
        assert ours.fingerprint == keys[name].fingerprint
    else:
        assert isinstance(ours, InvalidInputError)


def test_ed25519_keys_must_be_32_bytes(tmp_path: Path) -> None:
    for size in (0, 31, 33, 64):
        blob = ssh_string(b"ssh-ed25519") + ssh_string(bytes(range(size)))
        assert "32 bytes" in refused(tmp_path, line("ssh-ed25519", blob))
    accepted(tmp_path, line("ssh-ed25519", ssh_string(b"ssh-ed25519") + ssh_string(bytes(32))))


# --- RSA -------------------------------------------------------------------------------


def test_rsa_numbers_are_read_alike(keys: dict[str, GeneratedKey], tmp_path: Path) -> None:
    _, exponent, modulus = read_strings(keys["rsa3072"].blob)
    fingerprint = keys["rsa3072"].fingerprint
    # Leading zero bytes are allowed; the key is stored without them, as ssh-keygen shows it.
    for padded in (rsa_blob(b"\0\0" + exponent, modulus), rsa_blob(exponent, b"\0\0" + modulus)):
        key = accepted(tmp_path, line("ssh-rsa", padded))
        assert key.fingerprint == fingerprint
        assert base64.b64decode(key.blob) == keys["rsa3072"].blob
    top = b"\x00" + b"\xff" * 2048  # 16384 bits, OpenSSH's largest
    assert accepted(tmp_path, line("ssh-rsa", rsa_blob(exponent, top))).bits == 16384
    assert (
        accepted(tmp_path, line("ssh-rsa", rsa_blob(exponent, b"\x00" + b"\xff" * 128))).bits
        == 1024
    )
    for modulus_bytes, reason in (
        (b"\x7f" + b"\xff" * 127, "RSA key of 1023 bits"),
        (b"\x01" + b"\xff" * 2048, "too large"),
        (b"\x00\x00" + b"\xff" * 2048, "too large"),
        (b"\x80" + modulus[1:], "negative number"),
        (b"", "RSA key of 0 bits"),
    ):
        assert reason in refused(tmp_path, line("ssh-rsa", rsa_blob(exponent, modulus_bytes)))
    # Exponents OpenSSH reads but no RSA key has: refusals of borghive's own.
    for odd in (b"", b"\x01", b"\x02", b"\x01\x00\x00"):
        assert "bad RSA public exponent" in refused(
            tmp_path, line("ssh-rsa", rsa_blob(odd, modulus))
        )
    assert accepted(tmp_path, line("ssh-rsa", rsa_blob(b"\x03", modulus))).bits == 3072


# --- ECDSA points ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ecdsa256", "ecdsa384", "ecdsa521"])
def test_ecdsa_points_off_the_curve_are_refused(
    keys: dict[str, GeneratedKey], name: str, tmp_path: Path
) -> None:
    _, curve_name, point = read_strings(keys[name].blob)
    curve = curve_name.decode()
    size = CURVES[curve].coordinate_bytes
    x = int.from_bytes(point[1 : 1 + size], "big")
    y = int.from_bytes(point[1 + size :], "big")
    off = encode_point(curve, x, (y + 1) % CURVES[curve].p)
    assert "not on the" in refused(tmp_path, line(f"ecdsa-sha2-{curve}", ecdsa_blob(curve, off)))
    for malformed in (bytes([2 + (y & 1)]) + point[1 : 1 + size], b"\x00", point[:-1]):
        message = refused(tmp_path, line(f"ecdsa-sha2-{curve}", ecdsa_blob(curve, malformed)))
        assert "malformed ECDSA public point" in message
    # (-y) is on the curve too: accepted by both
    mirrored = encode_point(curve, x, CURVES[curve].p - y)
    accepted(tmp_path, line(f"ecdsa-sha2-{curve}", ecdsa_blob(curve, mirrored)))


@pytest.mark.parametrize("curve", list(CURVES))
def test_ecdsa_points_beyond_the_order_are_refused(curve: str, tmp_path: Path) -> None:
    """On the curve, but with x >= n - 1: OpenSSH's own bound (sshkey_ec_validate_public)."""
    params = CURVES[curve]
    x = params.n - 1
    while (y := y_for(curve, x)) is None:
        x += 1
    assert x < params.p
    message = refused(
        tmp_path, line(f"ecdsa-sha2-{curve}", ecdsa_blob(curve, encode_point(curve, x, y)))
    )
    assert "out of the range OpenSSH accepts" in message


def test_ecdsa_coordinates_must_be_below_the_prime(
    keys: dict[str, GeneratedKey], tmp_path: Path
) -> None:
    """P-521 leaves room in 66 bytes for x + p, the same point modulo p."""
    _, _, point = read_strings(keys["ecdsa521"].blob)
    x = int.from_bytes(point[1:67], "big")
    y = int.from_bytes(point[67:], "big")
    beyond = encode_point("nistp521", x + CURVES["nistp521"].p, y)
    assert "not on the" in refused(
        tmp_path, line("ecdsa-sha2-nistp521", ecdsa_blob("nistp521", beyond))
    )


@SLOW
@given(curve=st.sampled_from(list(CURVES)), data=st.data())
def test_random_ecdsa_points_are_read_alike(
    curve: str, data: st.DataObject, tmp_path: Path
) -> None:
    params = CURVES[curve]
    x = data.draw(st.integers(min_value=0, max_value=params.p - 1), label="x")
    y = y_for(curve, x)
    if y is None or data.draw(st.booleans(), label="off the curve"):
        y = data.draw(st.integers(min_value=0, max_value=params.p - 1), label="y")
    on_curve = y_for(curve, x) in (y, params.p - y)
    half = params.n.bit_length() // 2
    in_range = min(x.bit_length(), y.bit_length()) > half and max(x, y) < params.n - 1
    ours = agree(
        tmp_path, line(f"ecdsa-sha2-{curve}", ecdsa_blob(curve, encode_point(curve, x, y)))
    )
    assert isinstance(ours, PublicKey) == (on_curve and in_range)


def test_security_key_points_and_applications_are_read_alike(
    keys: dict[str, GeneratedKey], tmp_path: Path
) -> None:
    _, _, point = read_strings(keys["ecdsa256"].blob)
    sk_type = "sk-ecdsa-sha2-nistp256@openssh.com"
    bad = point[:-1] + bytes([point[-1] ^ 1])
    assert "not on the nistp256 curve" in refused(tmp_path, line(sk_type, sk_ecdsa_blob(bad)))
    plain = accepted(tmp_path, line(sk_type, sk_ecdsa_blob(point)))
    with_nul = accepted(tmp_path, line(sk_type, sk_ecdsa_blob(point, b"ssh:\0")))
    assert with_nul.fingerprint == plain.fingerprint
    assert "NUL byte inside a name" in refused(
        tmp_path, line(sk_type, sk_ecdsa_blob(point, b"ssh:\0x"))
    )
    refused(tmp_path, line(sk_type, sk_ecdsa_blob(point, b"web:example.org")))  # own rule


# --- whole lines -----------------------------------------------------------------------


@SLOW
@given(
    name=st.sampled_from(list(KEY_SPECS)),
    position=st.integers(min_value=0),
    inserted=st.text(
        st.sampled_from([" ", "\t", "a", "=", "#", '"', ",", "-", "\ufeff", *UNICODE_SPACES]),
        max_size=3,
    ),
    removed=st.integers(min_value=0, max_value=3),
)
def test_edited_lines_are_read_alike(
    keys: dict[str, GeneratedKey],
    tmp_path: Path,
    name: str,
    position: int,
    inserted: str,
    removed: int,
) -> None:
    text = keys[name].text.rstrip("\n")
    at = position % (len(text) + 1)
    agree(tmp_path, text[:at] + inserted + text[at + removed :] + "\n")
