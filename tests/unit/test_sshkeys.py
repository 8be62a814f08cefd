"""parse_public_key with real keys from ssh-keygen, hand-built security-key blobs, and
every way a pasted key line can be wrong."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from borghive.errors import InvalidInputError
from borghive.rules.sshkeys import (
    KEY_TYPES,
    MAX_COMMENT,
    MAX_KEY_TEXT,
    fingerprint,
    parse_public_key,
)
from tests.unit.sshkey_samples import (
    ACCEPTED_BY_DEFAULT,
    KEY_SPECS,
    GeneratedKey,
    ecdsa256_point,
    key_line,
    keygen_listing,
    read_strings,
    refusal,
    sk_ecdsa_blob,
    sk_ed25519_blob,
    ssh_string,
)

SAFE_COMMENT = re.compile(r"[A-Za-z0-9._@+=:,()\[\]-]*")

# --- real keys -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ACCEPTED_BY_DEFAULT)
def test_real_keys_are_accepted_as_ssh_keygen_sees_them(
    keys: dict[str, GeneratedKey], name: str
) -> None:
    generated = keys[name]
    key = parse_public_key(generated.text)
    _, _, key_type, bits = KEY_SPECS[name]
    assert key.key_type == key_type
    assert key.bits == bits == generated.bits
    assert key.fingerprint == generated.fingerprint
    assert fingerprint(key.blob) == generated.fingerprint
    assert key.comment == f"{name}@test"
    type_field, blob_field = generated.text.split()[:2]
    assert key.canonical == f"{type_field} {blob_field}"


def test_rsa_2048_is_refused_by_default_and_accepted_when_allowed(
    keys: dict[str, GeneratedKey],
) -> None:
    text = keys["rsa2048"].text
    message = refusal(text)
    assert "RSA key of 2048 bits; at least 3072 required" in message
    key = parse_public_key(text, rsa_min_bits=2048)
    assert key.key_type == "ssh-rsa"
    assert key.bits == 2048
    assert key.fingerprint == keys["rsa2048"].fingerprint


def test_rsa_3072_is_refused_when_4096_are_required(keys: dict[str, GeneratedKey]) -> None:
    assert "at least 4096 required" in refusal(keys["rsa3072"].text, rsa_min_bits=4096)
    assert parse_public_key(keys["rsa4096"].text, rsa_min_bits=4096).bits == 4096


@pytest.mark.parametrize("ending", ["\n", "\r\n", "  \n", "\t"])
def test_trailing_newline_and_whitespace_are_accepted(ed25519: GeneratedKey, ending: str) -> None:
    key = parse_public_key(ed25519.text.strip() + ending)
    assert key.fingerprint == ed25519.fingerprint
    assert key.comment == "ed25519@test"


def test_a_key_without_comment_is_accepted(ed25519: GeneratedKey) -> None:
    type_field, blob_field = ed25519.text.split()[:2]
    key = parse_public_key(f"  {type_field} {blob_field}  ")
    assert key.comment == ""
    assert key.canonical == f"{type_field} {blob_field}"


def test_input_of_exactly_the_maximum_size_is_accepted(ed25519: GeneratedKey) -> None:
    line = ed25519.text.strip()
    text = line + " " * (MAX_KEY_TEXT - len(line))
    assert len(text) == MAX_KEY_TEXT
    assert parse_public_key(text).fingerprint == ed25519.fingerprint


# --- security keys, built by hand ----------------------------------------------------


@pytest.mark.parametrize("application", [b"ssh:", b"ssh:borg-backup"])
def test_sk_ed25519_is_accepted(tmp_path: Path, application: bytes) -> None:
    text = key_line("sk-ssh-ed25519@openssh.com", sk_ed25519_blob(application), "yubi@desk")
    key = parse_public_key(text)
    assert key.key_type == "sk-ssh-ed25519@openssh.com"
    assert key.bits == 256
    assert key.comment == "yubi@desk"
    path = tmp_path / "sk.pub"
    path.write_text(text + "\n")
    assert keygen_listing(path) == (256, key.fingerprint)


def test_sk_ecdsa_is_accepted(tmp_path: Path, keys: dict[str, GeneratedKey]) -> None:
    text = key_line("sk-ecdsa-sha2-nistp256@openssh.com", sk_ecdsa_blob(ecdsa256_point(keys)))
    key = parse_public_key(text)
    assert key.key_type == "sk-ecdsa-sha2-nistp256@openssh.com"
    assert key.bits == 256
    path = tmp_path / "sk.pub"
    path.write_text(text + "\n")
    assert keygen_listing(path) == (256, key.fingerprint)


def test_sk_keys_whose_application_is_not_ssh_are_refused(
    keys: dict[str, GeneratedKey],
) -> None:
    for text in (
        key_line("sk-ssh-ed25519@openssh.com", sk_ed25519_blob(b"web:example.org")),
        key_line("sk-ssh-ed25519@openssh.com", sk_ed25519_blob(b"")),
        key_line("sk-ecdsa-sha2-nistp256@openssh.com", sk_ecdsa_blob(ecdsa256_point(keys), b"")),
    ):
        assert "security key application must start 'ssh:'" in refusal(text)


def test_sk_key_without_application_is_refused() -> None:
    blob = ssh_string(b"sk-ssh-ed25519@openssh.com") + ssh_string(bytes(32))
    assert "truncated" in refusal(key_line("sk-ssh-ed25519@openssh.com", blob))


def test_plain_key_carrying_an_application_is_refused(ed25519: GeneratedKey) -> None:
    blob = ed25519.blob + ssh_string(b"ssh:")
    assert "trailing bytes after the key data" in refusal(key_line("ssh-ed25519", blob))


# --- refusals --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prefix",
    [
        'command="x"',
        'command="echo hi"',
        "restrict",
        'from="1.2.3.4"',
        "no-pty,no-port-forwarding",
        'restrict,command="borg serve"',
    ],
)
def test_option_prefixes_are_refused(ed25519: GeneratedKey, prefix: str) -> None:
    message = refusal(f"{prefix} {ed25519.text}")
    assert "options before the key type are not allowed" in message


def test_two_keys_on_two_lines_are_refused(keys: dict[str, GeneratedKey]) -> None:
    text = keys["ed25519"].text + keys["ecdsa256"].text
    assert "expected one key on one line" in refusal(text)


def test_embedded_carriage_return_is_refused(ed25519: GeneratedKey) -> None:
    type_field, blob_field = ed25519.text.split()[:2]
    assert "expected one key on one line" in refusal(f"{type_field} {blob_field} al\rice")
    assert "expected one key on one line" in refusal(f"{type_field}\r{blob_field}")


@pytest.mark.parametrize("control", ["\x00", "\x1b[31m", "\x7f", "\x07", "\x0b", "\x0c"])
def test_control_characters_in_the_comment_are_refused(ed25519: GeneratedKey, control: str) -> None:
    text = f"{ed25519.text.strip()} alice{control}@laptop"
    assert "contains control characters" in refusal(text)


@pytest.mark.parametrize(
    "key_type",
    ["ssh-dss", "ecdsa-sha2-nistp192", "ssh-ed448", "SSH-ED25519", "x509v3-sign-rsa", "hello"],
)
def test_unknown_key_types_are_refused(ed25519: GeneratedKey, key_type: str) -> None:
    blob_field = ed25519.text.split()[1]
    message = refusal(f"{key_type} {blob_field}")
    assert f"unsupported key type {key_type!r}" in message
    assert "accepted: ssh-ed25519, ssh-rsa" in message


def test_unknown_key_type_is_shown_bounded() -> None:
    message = refusal("x" * 500 + " AAAA")
    assert "x" * 41 not in message


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_missing_base64_is_refused(key_type: str) -> None:
    assert "the base64 key data is missing" in refusal(f"{key_type}\n")


@pytest.mark.parametrize(
    "blob_field",
    ["!!!!", "AAAA$", "AAAAC3NzaC1lZDI1NTE5AAAAI*", "AAAAA", "AAAAAA", "AAAA===", "=AAA"],
)
def test_invalid_base64_is_refused(blob_field: str) -> None:
    assert "the key data is not valid base64" in refusal(f"ssh-ed25519 {blob_field} me@host")


def test_empty_base64_decoding_is_refused_as_truncated() -> None:
    # "AA==" decodes to a single byte: not even a length prefix.
    assert "the key data is truncated" in refusal("ssh-ed25519 AA==")


@pytest.mark.parametrize(
    ("source", "label"),
    [
        ("ed25519", "ssh-rsa"),
        ("rsa3072", "ssh-ed25519"),
        ("ecdsa256", "ecdsa-sha2-nistp384"),
        ("ecdsa521", "ecdsa-sha2-nistp256"),
        ("ed25519", "sk-ssh-ed25519@openssh.com"),
    ],
)
def test_blob_of_another_type_is_refused(
    keys: dict[str, GeneratedKey], source: str, label: str
) -> None:
    inner = KEY_SPECS[source][2]
    message = refusal(key_line(label, keys[source].blob))
    assert f"the key data is of type {inner.encode()!r}, not {label!r} as the line says" in message


def test_ecdsa_blob_with_a_mismatched_curve_is_refused(keys: dict[str, GeneratedKey]) -> None:
    blob = (
        ssh_string(b"ecdsa-sha2-nistp256")
        + ssh_string(b"nistp384")
        + ssh_string(ecdsa256_point(keys))
    )
    assert "curve 'nistp384' does not match" in refusal(key_line("ecdsa-sha2-nistp256", blob))


def test_ecdsa_blob_with_a_malformed_point_is_refused(keys: dict[str, GeneratedKey]) -> None:
    point = ecdsa256_point(keys)
    for bad in (b"\x02" + point[1:], point[:-1], point + b"\x00"):
        blob = ssh_string(b"ecdsa-sha2-nistp256") + ssh_string(b"nistp256") + ssh_string(bad)
        assert "malformed ECDSA public point" in refusal(key_line("ecdsa-sha2-nistp256", blob))


def test_ed25519_key_of_the_wrong_length_is_refused() -> None:
    for size in (0, 31, 33):
        blob = ssh_string(b"ssh-ed25519") + ssh_string(bytes(size))
        assert "an Ed25519 key must be 32 bytes" in refusal(key_line("ssh-ed25519", blob))


def test_rsa_blob_with_a_bad_exponent_or_negative_modulus_is_refused(
    keys: dict[str, GeneratedKey],
) -> None:
    _, _, modulus = read_strings(keys["rsa3072"].blob)
    even = ssh_string(b"ssh-rsa") + ssh_string(b"\x01\x00\x00") + ssh_string(modulus)
    assert "bad RSA public exponent" in refusal(key_line("ssh-rsa", even))
    one = ssh_string(b"ssh-rsa") + ssh_string(b"\x01") + ssh_string(modulus)
    assert "bad RSA public exponent" in refusal(key_line("ssh-rsa", one))
    negative = ssh_string(b"ssh-rsa") + ssh_string(b"\x01\x00\x01") + ssh_string(b"\x80" * 384)
    assert "negative number in the key data" in refusal(key_line("ssh-rsa", negative))


@pytest.mark.parametrize("name", ["ed25519", "rsa3072", "ecdsa384"])
def test_truncated_blob_is_refused(keys: dict[str, GeneratedKey], name: str) -> None:
    blob = keys[name].blob
    key_type = KEY_SPECS[name][2]
    for cut in (1, 10, len(blob) - 3):
        message = refusal(key_line(key_type, blob[:-cut]))
        assert "the key data is truncated" in message


@pytest.mark.parametrize("extra", [b"\x00", b"\x00\x00\x00\x00", b"junk"])
def test_trailing_bytes_after_the_blob_are_refused(
    keys: dict[str, GeneratedKey], extra: bytes
) -> None:
    for name in ("ed25519", "rsa3072", "ecdsa521"):
        text = key_line(KEY_SPECS[name][2], keys[name].blob + extra)
        assert "trailing bytes after the key data" in refusal(text)


def test_oversized_input_is_refused(ed25519: GeneratedKey) -> None:
    line = ed25519.text.strip()
    text = line + " " * (MAX_KEY_TEXT + 1 - len(line))
    assert MAX_KEY_TEXT == 16 * 1024
    assert f"longer than {MAX_KEY_TEXT} bytes" in refusal(text)
    assert f"longer than {MAX_KEY_TEXT} bytes" in refusal(line + " " + "c" * 20_000)


@pytest.mark.parametrize("text", ["", " ", "\n", "\r\n", " \t \n"])
def test_empty_input_is_refused(text: str) -> None:
    assert "empty input" in refusal(text)


@pytest.mark.parametrize("text", ["\u2028", "\xa0", "\u3000\u2029", "\x85", "\xa0\n"])
def test_input_of_only_unicode_whitespace_is_refused(text: str) -> None:
    assert "empty input" in refusal(text)


# --- comments --------------------------------------------------------------------------


def test_comment_keeps_only_safe_characters(ed25519: GeneratedKey) -> None:
    type_field, blob_field = ed25519.text.split()[:2]
    key = parse_public_key(f'{type_field} {blob_field} alice@laptop "quoted" $(rm -rf)')
    assert key.comment == "alice@laptop_quoted_(rm_-rf)"
    assert SAFE_COMMENT.fullmatch(key.comment)
    for unsafe in ('"', "$", " ", "`", ";", "'"):
        assert unsafe not in key.comment


def test_comment_is_cut_to_one_hundred_characters(ed25519: GeneratedKey) -> None:
    type_field, blob_field = ed25519.text.split()[:2]
    key = parse_public_key(f"{type_field} {blob_field} {'c' * 300}")
    assert MAX_COMMENT == 100
    assert key.comment == "c" * 100


def test_comment_with_tabs_and_non_ascii_is_sanitised(ed25519: GeneratedKey) -> None:
    type_field, blob_field = ed25519.text.split()[:2]
    key = parse_public_key(f"{type_field} {blob_field} J\u00fcrgen\tbackup key \u2603")
    assert key.comment == "J_rgen_backup_key"


# --- properties ------------------------------------------------------------------------


@settings(max_examples=200)
@given(st.text(max_size=200))
@example("\u2028")
@example("ssh-ed25519\u2028")
@example("ssh-rsa AAAA")
@example("sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t")
def test_arbitrary_text_raises_only_invalid_input(text: str) -> None:
    try:
        key = parse_public_key(text)
    except InvalidInputError as error:
        assert error.message.startswith("invalid SSH key: ")
        return
    assert key.key_type in KEY_TYPES  # pragma: no cover - random text is never a valid key


@settings(max_examples=200)
@given(
    key_type=st.sampled_from(KEY_TYPES),
    blob=st.binary(max_size=300),
    comment=st.text(max_size=40),
)
def test_arbitrary_blobs_raise_only_invalid_input(key_type: str, blob: bytes, comment: str) -> None:
    try:
        parse_public_key(key_line(key_type, blob, comment))
    except InvalidInputError as error:
        assert error.message.startswith("invalid SSH key: ")


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(ACCEPTED_BY_DEFAULT),
    position=st.integers(min_value=0),
    replacement=st.binary(max_size=8),
    removed=st.integers(min_value=0, max_value=8),
)
def test_corrupted_real_blobs_raise_only_invalid_input(
    keys: dict[str, GeneratedKey], name: str, position: int, replacement: bytes, removed: int
) -> None:
    blob = keys[name].blob
    at = position % (len(blob) + 1)
    corrupted = blob[:at] + replacement + blob[at + removed :]
    try:
        key = parse_public_key(key_line(KEY_SPECS[name][2], corrupted), rsa_min_bits=1024)
    except InvalidInputError as error:
        assert error.message.startswith("invalid SSH key: ")
        return
    assert key.canonical == key_line(KEY_SPECS[name][2], corrupted)


@settings(max_examples=200)
@given(
    name=st.sampled_from(ACCEPTED_BY_DEFAULT),
    comment=st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=300),
    before=st.sampled_from(["", " ", "\t", " \n"]),
    after=st.sampled_from(["", " ", "\n", "\r\n", "\t "]),
)
def test_valid_keys_parse_to_a_canonical_form_that_reparses_identically(
    keys: dict[str, GeneratedKey], name: str, comment: str, before: str, after: str
) -> None:
    type_field, blob_field = keys[name].text.split()[:2]
    key = parse_public_key(f"{before}{type_field} {blob_field} {comment}{after}")
    assert key.canonical == f"{key.key_type} {key.blob}" == f"{type_field} {blob_field}"
    again = parse_public_key(key.canonical)
    assert again.fingerprint == key.fingerprint == keys[name].fingerprint
    assert again.bits == key.bits
    assert len(key.comment) <= MAX_COMMENT
    assert SAFE_COMMENT.fullmatch(key.comment)


@settings(max_examples=200)
@given(
    public=st.binary(min_size=32, max_size=32),
    application=st.binary(max_size=20).filter(lambda data: b"\0" not in data),
)
def test_any_32_byte_ed25519_key_round_trips(public: bytes, application: bytes) -> None:
    blob = ssh_string(b"ssh-ed25519") + ssh_string(public)
    key = parse_public_key(key_line("ssh-ed25519", blob))
    expected = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    assert key.fingerprint == f"SHA256:{expected}"
    assert parse_public_key(key.canonical) == key
    sk_blob = (
        ssh_string(b"sk-ssh-ed25519@openssh.com")
        + ssh_string(public)
        + ssh_string(b"ssh:" + application)
    )
    sk_key = parse_public_key(key_line("sk-ssh-ed25519@openssh.com", sk_blob))
    assert sk_key.blob == base64.b64encode(sk_blob).decode()
