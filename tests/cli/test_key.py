"""``borghive key add/list/show/remove``: output, JSON, malformed keys, refusals."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest

from borghive.rules.sshkeys import MAX_KEY_TEXT, fingerprint
from tests.harness.cli import Cli
from tests.harness.keys import ed25519_line, rsa_line
from tests.harness.watchdog import released_after

from .helpers import BAD_NAMES, assert_refused

KEY_FIELDS = {
    "owner",
    "name",
    "key_type",
    "bits",
    "fingerprint",
    "comment",
    "public_key",
    "created",
    "grants",
    "allowed_from",
    "last_used",
    "last_used_from",
}


def _fingerprint_of(line: str) -> str:
    return fingerprint(line.split()[1])


def _grants(key: dict[str, Any]) -> list[tuple[str, str]]:
    return [(g["repository"], g["mode"]) for g in key["grants"]]


def test_add_from_a_file_names_the_key_after_its_comment(populated: Cli, key_file: Path) -> None:
    populated.ok("user", "add", "carol")
    result = populated.ok("key", "add", "carol", str(key_file))
    expected = _fingerprint_of(key_file.read_text())
    assert result.stdout.strip() == (
        f"added key carol/alice-laptop ssh-ed25519 256 bits {expected}"
    )
    assert [k.name for k in populated.snapshot()[1] if k.owner == "carol"] == ["alice-laptop"]


def test_add_json_from_stdin(populated: Cli) -> None:
    line = ed25519_line("bob@tablet")
    added = populated.json("key", "add", "bob", "-", "--name", "tablet", input=line)
    assert set(added) == KEY_FIELDS
    assert added["owner"] == "bob"
    assert added["name"] == "tablet"
    assert added["key_type"] == "ssh-ed25519"
    assert added["bits"] == 256
    assert added["fingerprint"] == _fingerprint_of(line)
    assert added["comment"] == "bob@tablet"
    assert added["public_key"] == " ".join(line.split()[:2])
    assert added["grants"] == []
    assert added["allowed_from"] is None


def test_add_accepts_a_large_rsa_key(populated: Cli, tmp_path: Path) -> None:
    path = tmp_path / "id_rsa.pub"
    path.write_text(rsa_line(4096, "bob@server"))
    added = populated.json("key", "add", "bob", str(path))
    assert (added["key_type"], added["bits"], added["name"]) == ("ssh-rsa", 4096, "bob-server")


def test_add_with_a_source_restriction(populated: Cli, key_file: Path) -> None:
    added = populated.json(
        "key", "add", "bob", str(key_file), "--from", "192.0.2.7/24, 2001:db8::1"
    )
    assert added["allowed_from"] == "192.0.2.0/24,2001:db8::1/128"
    human = populated.ok("key", "show", f"bob/{added['name']}").stdout
    assert "192.0.2.0/24,2001:db8::1/128" in human


def test_malformed_source_restrictions_are_refused(
    populated: Cli, key_file: Path, subtests: pytest.Subtests
) -> None:
    before = populated.snapshot()
    for value in ("backup.example.org", "", "10.0.0.0/33", "10.0.0.1,", "*", "10.0.0.1 10.0.0.2"):
        with subtests.test(value=value):
            assert_refused(
                populated.run("key", "add", "bob", str(key_file), f"--from={value}"),
                "invalid source restriction",
            )
            assert_refused(
                populated.run("repo", "grant", "alice/photos", "desktop", f"--from={value}"),
                "invalid source restriction",
            )
    assert populated.snapshot() == before


def test_list_shows_every_key_and_its_repositories(populated: Cli) -> None:
    listed = populated.json("key", "list")
    assert [(k["owner"], k["name"]) for k in listed] == [
        ("alice", "desktop"),
        ("alice", "laptop"),
        ("bob", "phone"),
    ]
    assert all(set(k) == KEY_FIELDS for k in listed)
    laptop = listed[1]
    assert _grants(laptop) == [("alice/photos", "full")]

    only_bob = populated.json("key", "list", "--user", "bob")
    assert [k["name"] for k in only_bob] == ["phone"]

    human = populated.ok("key", "list").stdout
    for text in (
        "alice/desktop",
        "alice/laptop",
        "bob/phone",
        "alice/photos",
        laptop["fingerprint"],
    ):
        assert text in human


def test_list_for_an_unknown_user_is_refused(populated: Cli) -> None:
    assert_refused(populated.run("key", "list", "--user", "nobody"), "'nobody'", "not found")


def test_show_by_name_and_by_fingerprint(populated: Cli) -> None:
    by_name = populated.json("key", "show", "alice/laptop")
    assert set(by_name) == KEY_FIELDS
    assert _grants(by_name) == [("alice/photos", "full")]
    by_fingerprint = populated.json("key", "show", by_name["fingerprint"])
    assert by_fingerprint == by_name

    human = populated.ok("key", "show", "alice/laptop").stdout
    assert by_name["fingerprint"] in human
    assert by_name["public_key"] in human
    assert "alice/photos (full)" in human


def test_show_unknown_or_malformed_reference_is_refused(populated: Cli) -> None:
    assert_refused(populated.run("key", "show", "alice/nokey"), "alice/nokey", "not found")
    assert_refused(populated.run("key", "show", "SHA256:doesnotexist"), "fingerprint")
    assert_refused(populated.run("key", "show", "laptop"), "expected OWNER/NAME")


def test_remove_an_unused_key(populated: Cli) -> None:
    result = populated.ok("key", "remove", "alice/desktop")
    assert result.stdout.strip() == "removed key alice/desktop"
    assert [k.name for k in populated.snapshot()[1]] == ["laptop", "phone"]


def test_remove_is_refused_while_the_key_grants_access(populated: Cli) -> None:
    before = populated.snapshot()
    result = populated.run("key", "remove", "alice/laptop")
    assert_refused(result, "alice/laptop", "alice/photos")
    assert "--force" in result.stderr.splitlines()[1]
    assert populated.snapshot() == before


def test_remove_force_revokes_everywhere(populated: Cli) -> None:
    result = populated.ok("key", "remove", "alice/laptop", "--force", "--yes")
    assert "removed key alice/laptop (revoked from 1 repository)" in result.stdout
    _, keys_after, repos_after = populated.snapshot()
    assert [k.name for k in keys_after] == ["desktop", "phone"]
    assert [r.key_count for r in repos_after] == [0]
    assert populated.json("repo", "show", "alice/photos")["accesses"] == []


def test_remove_force_asks_first_and_stops_on_no(populated: Cli) -> None:
    before = populated.snapshot()
    result = populated.run("key", "remove", "alice/laptop", "--force", input="n\n")
    assert result.exit_code == 1
    assert "Revoke alice/laptop from every repository" in result.stderr
    assert "Traceback" not in result.stderr
    assert populated.snapshot() == before


def _key_texts() -> list[tuple[str, bytes, str]]:
    """(label, file content, fragment of the error) for keys that must be refused."""
    good = ed25519_line("x")
    blob = base64.b64decode(good.split()[1])
    truncated = base64.b64encode(blob[:-5]).decode()
    trailing = base64.b64encode(blob + b"\0").decode()
    return [
        ("empty", b"", "empty input"),
        ("not a key", b"hello world\n", "unsupported key type"),
        ("missing base64", b"ssh-ed25519\n", "missing"),
        ("bad base64", b"ssh-ed25519 !!!notbase64\n", "base64"),
        ("truncated", f"ssh-ed25519 {truncated}\n".encode(), "truncated"),
        ("trailing bytes", f"ssh-ed25519 {trailing}\n".encode(), "trailing bytes"),
        ("type mismatch", f"ssh-rsa {good.split()[1]}\n".encode(), "not 'ssh-rsa'"),
        ("options prefix", f'from="10.0.0.1" {good}'.encode(), "options"),
        ("two keys", (good + ed25519_line()).encode(), "one key on one line"),
        ("control char", good.replace(" x", " x\x07y").encode(), "control characters"),
        ("small rsa", rsa_line(1024).encode(), "at least 3072"),
        ("private key", b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n", "one key on one line"),
        ("not utf-8 key data", b"ssh-ed25519 \xff\xfe\n", "not valid base64"),
    ]


def test_malformed_key_files_are_refused(
    populated: Cli, tmp_path: Path, subtests: pytest.Subtests
) -> None:
    before = populated.snapshot()
    for label, content, fragment in _key_texts():
        with subtests.test(label):
            path = tmp_path / "bad.pub"
            path.write_bytes(content)
            assert_refused(populated.run("key", "add", "bob", str(path)), fragment)
    assert_refused(populated.run("key", "add", "bob", str(tmp_path / "missing.pub")), "cannot read")
    assert_refused(populated.run("key", "add", "bob", str(tmp_path)), "is a directory")
    assert populated.snapshot() == before


def test_duplicates_are_refused(populated: Cli, tmp_path: Path) -> None:
    path = tmp_path / "dup.pub"
    path.write_text(ed25519_line())
    populated.ok("key", "add", "bob", str(path), "--name", "spare")
    before = populated.snapshot()
    # The same key again, even for another user, is refused and says where it is stored.
    assert_refused(populated.run("key", "add", "alice", str(path)), "already stored as bob/spare")
    other = tmp_path / "other.pub"
    other.write_text(ed25519_line())
    assert_refused(
        populated.run("key", "add", "bob", str(other), "--name", "phone"),
        "already has a key named 'phone'",
    )
    assert populated.snapshot() == before


def test_add_for_an_unknown_owner_is_refused(populated: Cli, key_file: Path) -> None:
    before = populated.snapshot()
    assert_refused(populated.run("key", "add", "nobody", str(key_file)), "'nobody'", "not found")
    assert populated.snapshot() == before


def test_bad_names_are_refused_by_every_key_command(
    populated: Cli, key_file: Path, subtests: pytest.Subtests
) -> None:
    before = populated.snapshot()
    for name, reason in BAD_NAMES:
        if "/" in name:
            continue  # "a/b" as OWNER/NAME is a well-formed reference
        with subtests.test(name=name):
            assert_refused(
                populated.run("key", "add", "bob", str(key_file), f"--name={name}"),
                "invalid key name",
                reason,
            )
            assert_refused(
                populated.run("key", "add", "--", name, str(key_file)), "invalid user name", reason
            )
            for command in ("show", "remove"):
                assert_refused(
                    populated.run("key", command, "--", f"alice/{name}"), "invalid key name", reason
                )
                assert_refused(
                    populated.run("key", command, "--", f"{name}/laptop"),
                    "invalid user name",
                    reason,
                )
    assert_refused(populated.run("key", "show", "alice/laptop/x"), "invalid key name", "'/'")
    assert populated.snapshot() == before


def test_key_sources_that_are_not_regular_files_are_refused_at_once(
    populated: Cli, tmp_path: Path
) -> None:
    """A FIFO without a writer made key add wait for ever; a device never ends."""
    before = populated.snapshot()
    fifo = tmp_path / "id_ed25519.pub"
    os.mkfifo(fifo)
    with released_after(fifo) as rescued:
        result = populated.run("key", "add", "bob", str(fifo))
    assert not rescued.is_set(), "key add waited on the FIFO"
    assert_refused(result, f"key file {fifo}: is a named pipe (FIFO), not a regular file")
    assert_refused(populated.run("key", "add", "bob", "/dev/zero"), "is a character device")
    assert_refused(populated.run("key", "add", "bob", str(tmp_path)), "is a directory")
    big = tmp_path / "big.pub"
    big.write_text(ed25519_line("x" * MAX_KEY_TEXT))
    assert_refused(
        populated.run("key", "add", "bob", str(big)), f"key file {big}: larger than 16384 bytes"
    )
    assert_refused(
        populated.run("key", "add", "bob", "-", input="x" * (MAX_KEY_TEXT + 1)),
        "key file standard input: larger than 16384 bytes",
    )
    assert populated.snapshot() == before


def test_key_add_reads_what_openssh_reads(populated: Cli, tmp_path: Path) -> None:
    """A Latin-1 comment is read; a U+00A0 separator, a BOM and a zone id are refused
    saying why, and nothing is stored."""
    line = ed25519_line("alice@laptop")
    key_type, blob = line.split()[:2]
    path = tmp_path / "latin1.pub"
    path.write_bytes(f"{key_type} {blob} J".encode() + b"\xfcrgen\n")
    assert populated.json("key", "add", "bob", str(path))["comment"] == "J_rgen"
    before = populated.snapshot()
    other = ed25519_line("x")
    for content, fragment in (
        (other.replace(" ", "\xa0", 1).encode(), "U+00A0 where a field separator belongs"),
        (b"\xef\xbb\xbf" + other.encode(), "UTF-8 byte order mark"),
    ):
        path.write_bytes(content)
        assert_refused(populated.run("key", "add", "bob", str(path)), fragment)
    path.write_text(other)
    assert_refused(
        populated.run("key", "add", "bob", str(path), "--from", "fe80::1%eth0"),
        "'fe80::1%eth0' has a zone id",
    )
    assert populated.snapshot() == before


def test_show_gives_the_last_use_and_where_from(populated: Cli) -> None:
    import datetime as dt

    from borghive.store import open_store
    from borghive.store.models import BorgSession, Repository, SshKey

    assert populated.json("key", "show", "alice/laptop")["last_used"] is None
    assert "never" in populated.ok("key", "show", "alice/laptop").stdout
    used = dt.datetime(2026, 5, 6, 7, 8, 9)
    with open_store(populated.config.store):
        SshKey.update(last_used=used, last_used_from="127.0.0.2").where(
            SshKey.name == "laptop"
        ).execute()
        BorgSession.create(
            repository=Repository.get(),
            key=SshKey.get(SshKey.name == "laptop"),
            host="h",
            pid=10,
            program="borg",
            started=used,
            source="127.0.0.2",
        )
    shown = populated.json("key", "show", "alice/laptop")
    assert (shown["last_used"], shown["last_used_from"]) == (
        "2026-05-06T07:08:09+00:00",
        "127.0.0.2",
    )
    assert (
        "2026-05-06 07:08 UTC from 127.0.0.2" in populated.ok("key", "show", "alice/laptop").stdout
    )
    access = populated.json("repo", "show", "alice/photos")["accesses"][0]
    assert (access["last_used"], access["last_used_from"]) == (
        "2026-05-06T07:08:09+00:00",
        "127.0.0.2",
    )
    assert "from 127.0.0.2" in populated.ok("repo", "show", "alice/photos").stdout
