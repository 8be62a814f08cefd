"""A refusal logs exactly one line to syslog (sshd throws stderr away); an answer logs
nothing. /dev/log is a socket of the test's own, inside a private mount namespace (see
devlog.py); the host's /dev is never touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from borghive.config import Config
from tests.harness.authkeys import (
    add_key,
    assert_one_refusal_line,
    create_repository,
    run_with_devlog,
    tamper,
)
from tests.harness.config import config_toml, make_config
from tests.harness.keys import PublicKey

pytestmark = pytest.mark.e2e


def test_missing_store_logs_one_line(tmp_path: Path) -> None:
    config_file = tmp_path / "borghive.toml"
    config_file.write_text(config_toml(make_config(tmp_path, f"sqlite:///{tmp_path}/none.db")))

    result = run_with_devlog(tmp_path / "devlog.json", config_file, "rabcdefg")

    assert_one_refusal_line(
        result, f"refusing: AuthKeysError: store {tmp_path}/none.db: unable to open database file"
    )


def test_tampered_store_logs_one_line(
    alice: Config, public_keys: list[PublicKey], config_file: Path, tmp_path: Path
) -> None:
    add_key("alice", public_keys[0], "laptop")
    add_key("alice", public_keys[1], "desktop")
    repo_user = create_repository(alice, "alice/photos", full=("laptop", "desktop"))
    tamper("UPDATE repository SET quota = -1")

    result = run_with_devlog(tmp_path / "devlog.json", config_file, repo_user)

    assert_one_refusal_line(
        result, "refusing: AuthKeysError: stored quota '-1' is not a positive integer"
    )


def test_answers_log_nothing(
    alice: Config, public_keys: list[PublicKey], config_file: Path, tmp_path: Path
) -> None:
    add_key("alice", public_keys[0], "laptop")
    repo_user = create_repository(alice, "alice/photos", full=("laptop",))

    answered = run_with_devlog(tmp_path / "devlog.json", config_file, repo_user)
    unknown = run_with_devlog(tmp_path / "devlog.json", config_file, "rzzzzzzz")

    assert (answered.returncode, answered.stdout.count("\n")) == (0, 1)
    assert (unknown.returncode, unknown.stdout) == (0, "")
    assert answered.datagrams == unknown.datagrams == []
