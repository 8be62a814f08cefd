"""What ``borghive authkeys`` prints to sshd, byte for byte, on both store back ends.

The data is made through the service layer; the answer comes from the installed command in
a subprocess with sshd's environment and stdin, as in a real login.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from borghive.config import Config
from borghive.service.repositories import grants
from tests.harness.authkeys import (
    add_key,
    assert_answer,
    borg_line,
    create_repository,
    rrsync_line,
    run_authkeys,
    run_many,
)
from tests.harness.config import config_toml
from tests.harness.keys import PublicKey

pytestmark = pytest.mark.e2e


@pytest.fixture
def laptop(alice: Config, public_keys: list[PublicKey]) -> PublicKey:
    """alice's key ``laptop``."""
    add_key("alice", public_keys[0], "laptop")
    return public_keys[0]


def test_full_access(alice: Config, laptop: PublicKey, config_file: Path) -> None:
    repo_user = create_repository(alice, "alice/photos", full=("laptop",))

    result = run_authkeys(config_file, repo_user)

    root = alice.repos.root
    assert_answer(
        result,
        f'restrict,command="BORGHIVE_KEY={laptop.fingerprint} exec '
        f"/usr/bin/borg serve --umask 0077 --restrict-to-repository "
        f'{root}/{repo_user}/photos" {laptop.text} laptop\n',
    )


@pytest.mark.parametrize(
    ("append_only", "quota", "serve_options"),
    [
        (True, None, " --append-only"),
        (False, 500_000_000, " --storage-quota 500000000"),
        (True, 2 * 10**12, " --append-only --storage-quota 2000000000000"),
    ],
    ids=["append-only", "quota", "append-only-and-quota"],
)
def test_serve_options(
    alice: Config,
    laptop: PublicKey,
    config_file: Path,
    append_only: bool,
    quota: int | None,
    serve_options: str,
) -> None:
    granted = {"append_only": ("laptop",)} if append_only else {"full": ("laptop",)}
    repo_user = create_repository(alice, "alice/photos", quota=quota, **granted)

    result = run_authkeys(config_file, repo_user)

    expected = borg_line(alice, repo_user, "photos", laptop, "laptop", serve_options=serve_options)
    assert_answer(result, expected)


def test_borg_path_and_umask_from_config(alice: Config, laptop: PublicKey, tmp_path: Path) -> None:
    repo_user = create_repository(alice, "alice/photos", full=("laptop",))
    config_file = tmp_path / "custom.toml"
    config_file.write_text(
        config_toml(alice) + '[borg]\npath = "/opt/borg-1.4/bin/borg"\numask = "0027"\n'
    )

    result = run_authkeys(config_file, repo_user)

    expected = borg_line(
        alice, repo_user, "photos", laptop, "laptop", borg="/opt/borg-1.4/bin/borg", umask="0027"
    )
    assert_answer(result, expected)


@pytest.mark.parametrize(("mode", "flag"), [("import", "-wo"), ("export", "-ro")])
def test_rrsync_modes(
    alice: Config, laptop: PublicKey, config_file: Path, mode: str, flag: str
) -> None:
    repo_user = create_repository(alice, "alice/photos", full=("laptop",), quota=10**9, mode=mode)

    result = run_authkeys(config_file, repo_user)

    assert_answer(result, rrsync_line(alice, repo_user, "photos", laptop, "laptop", flag))


def test_disabled_repository_prints_nothing(
    alice: Config, laptop: PublicKey, config_file: Path
) -> None:
    repo_user = create_repository(alice, "alice/photos", full=("laptop",), mode="disabled")

    assert_answer(run_authkeys(config_file, repo_user), "")
    assert_answer(run_authkeys(config_file, repo_user, laptop.key_type, laptop.blob), "")


def test_key_source_restriction(
    alice: Config, public_keys: list[PublicKey], config_file: Path
) -> None:
    add_key("alice", public_keys[0], "laptop", allowed_from="192.0.2.0/24")
    repo_user = create_repository(alice, "alice/photos", append_only=("laptop",))

    result = run_authkeys(config_file, repo_user)

    expected = borg_line(
        alice,
        repo_user,
        "photos",
        public_keys[0],
        "laptop",
        serve_options=" --append-only",
        sources="192.0.2.0/24",
    )
    assert_answer(result, expected)
    assert ' --append-only",from="192.0.2.0/24" ssh-ed25519 ' in result.stdout.decode()


def test_access_source_restriction_overrides_the_keys(
    alice: Config, public_keys: list[PublicKey], config_file: Path
) -> None:
    add_key("alice", public_keys[0], "laptop", allowed_from="192.0.2.0/24")
    add_key("alice", public_keys[1], "desktop", allowed_from="192.0.2.0/24")
    repo_user = create_repository(alice, "alice/photos", full=("laptop", "desktop"))
    grants.grant_access("alice/photos", "laptop", allowed_from="198.51.100.7, 2001:db8::/32")

    result = run_authkeys(config_file, repo_user)

    assert_answer(
        result,
        borg_line(alice, repo_user, "photos", public_keys[1], "desktop", sources="192.0.2.0/24")
        + borg_line(
            alice,
            repo_user,
            "photos",
            public_keys[0],
            "laptop",
            sources="198.51.100.7/32,2001:db8::/32",
        ),
    )


@pytest.fixture
def three_keys(alice: Config, public_keys: list[PublicKey]) -> str:
    """alice/photos opened by alice's keys phone (full), desktop (append-only) and laptop
    (full); alice's key ``spare`` opens nothing. Returns the repository user."""
    add_key("alice", public_keys[0], "phone")
    add_key("alice", public_keys[1], "desktop")
    add_key("alice", public_keys[2], "laptop")
    add_key("alice", public_keys[3], "spare")
    repo_user = create_repository(
        alice, "alice/photos", full=("phone", "laptop"), append_only=("desktop",)
    )
    return repo_user


def test_several_keys_one_line_each_by_key_name(
    alice: Config, public_keys: list[PublicKey], three_keys: str, config_file: Path
) -> None:
    result = run_authkeys(config_file, three_keys)

    assert_answer(
        result,
        borg_line(
            alice, three_keys, "photos", public_keys[1], "desktop", serve_options=" --append-only"
        )
        + borg_line(alice, three_keys, "photos", public_keys[2], "laptop")
        + borg_line(alice, three_keys, "photos", public_keys[0], "phone"),
    )


def test_offered_key_gets_only_its_line(
    alice: Config, public_keys: list[PublicKey], three_keys: str, config_file: Path
) -> None:
    for key, name, options in [
        (public_keys[0], "phone", ""),
        (public_keys[1], "desktop", " --append-only"),
    ]:
        result = run_authkeys(config_file, three_keys, key.key_type, key.blob)

        expected = borg_line(alice, three_keys, "photos", key, name, serve_options=options)
        assert_answer(result, expected)


def test_offered_key_without_access_gets_nothing(
    alice: Config, public_keys: list[PublicKey], three_keys: str, config_file: Path
) -> None:
    spare = public_keys[3]  # stored for alice, granted nowhere
    assert_answer(run_authkeys(config_file, three_keys, spare.key_type, spare.blob), "")
    # granted, but to another repository user's repository
    add_key("bob", public_keys[4], "tablet")
    other = create_repository(alice, "bob/music", full=("tablet",))
    phone = public_keys[0]
    assert_answer(run_authkeys(config_file, other, phone.key_type, phone.blob), "")


def test_offered_key_of_another_type_gets_nothing(
    public_keys: list[PublicKey], three_keys: str, config_file: Path
) -> None:
    blob = public_keys[0].blob
    types = ("ssh-rsa", "ecdsa-sha2-nistp256", "sk-ssh-ed25519@openssh.com", "ssh-dss", "")
    results = run_many(config_file, [(three_keys, key_type, blob) for key_type in types])

    assert [(r.returncode, r.stdout) for r in results] == [(0, b"")] * len(types)


def test_malformed_offered_key_gets_nothing(
    public_keys: list[PublicKey], three_keys: str, config_file: Path
) -> None:
    blob = public_keys[0].blob
    malformed = [
        "",
        "AAAA",
        "not*base64*at*all*",
        blob + "\n",
        blob[:-2] + "x=",
        blob[:-1],
        f"{blob} phone",
        "-" + blob,
        "A" * 10_000,
    ]
    results = run_many(config_file, [(three_keys, "ssh-ed25519", key) for key in malformed])

    assert [(r.returncode, r.stdout) for r in results] == [(0, b"")] * len(malformed)


def test_unknown_user_gets_nothing(
    public_keys: list[PublicKey], three_keys: str, config_file: Path
) -> None:
    phone = public_keys[0]
    calls = []
    for user in ("rzzzzzzz", "alice", "root", three_keys + "x"):
        calls += [(user,), (user, phone.key_type, phone.blob)]
    results = run_many(config_file, calls)

    assert [(r.returncode, r.stdout) for r in results] == [(0, b"")] * len(calls)


def test_user_with_metacharacters_gets_nothing(
    public_keys: list[PublicKey], three_keys: str, config_file: Path
) -> None:
    phone = public_keys[0]
    users = [
        f"{three_keys}'; DROP TABLE access; --",
        f"{three_keys[:-1]}_",
        f"{three_keys[:-1]}%",
        f"{three_keys}\n",
        f"{three_keys} ",
        f" {three_keys}",
        three_keys.upper(),
        ".*",
        f"{three_keys[:3]}.*",
        "$(id)",
        "`id`",
        "*",
        "",
        "-c",
        "--config=/dev/null",
        "-h",
        "--help",
    ]
    # sshd's documented form: USER TYPE KEY
    calls = [(user, phone.key_type, phone.blob) for user in users]
    # the user-only form; there a lone -h or --help asks for the command's help
    calls += [(user,) for user in users if user not in ("-h", "--help")]
    results = run_many(config_file, calls)

    answers = {call: (r.returncode, r.stdout) for call, r in zip(calls, results, strict=True)}
    assert answers == dict.fromkeys(calls, (0, b""))
    # the repository user itself still answers, so the store was not harmed
    assert run_authkeys(config_file, three_keys).stdout.count(b"\n") == 3
