"""The installed ``borghive authkeys`` serves each repository with its own borg, on both
store back ends, from the file and from the login copy alike; a repository whose borg
name the configuration no longer has is refused with one syslog line."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import MappingProxyType

import pytest

from borghive.config import BorgConfig, Config
from borghive.config_load import load_config
from borghive.login.cache import write_login_cache
from borghive.rules.accounts import NoAccounts
from borghive.service.repositories import lifecycle as repos
from borghive.service.repositories.lifecycle import RepoChanges
from tests.harness.authkeys import (
    add_key,
    assert_answer,
    assert_one_refusal_line,
    borg_line,
    create_repository,
    run_authkeys,
    run_with_devlog,
)
from tests.harness.config import config_toml
from tests.harness.keys import PublicKey

pytestmark = pytest.mark.e2e

VERSIONS = {"1.4": Path("/opt/borg-1.4/bin/borg"), "old": Path("/usr/local/bin/borg-1.2")}


def versioned(config: Config, versions: dict[str, Path]) -> Config:
    return dataclasses.replace(config, borg=BorgConfig(versions=MappingProxyType(versions)))


def write(config: Config, path: Path) -> Path:
    path.write_text(config_toml(config))
    path.chmod(0o644)
    return path


@pytest.mark.parametrize("copy", [False, True], ids=["file", "login-copy"])
def test_each_repository_gets_its_borg(
    alice: Config, public_keys: list[PublicKey], tmp_path: Path, copy: bool
) -> None:
    config = versioned(alice, VERSIONS)
    config_file = write(config, tmp_path / "borghive.toml")
    if copy:
        assert write_login_cache(load_config(config_file, {}), environ={}) is not None
    laptop = public_keys[0]
    add_key("alice", laptop, "laptop")
    default_user = create_repository(config, "alice/photos", full=("laptop",))
    newer_user = create_repository(config, "alice/mail", full=("laptop",), borg_name="1.4")
    older_user = create_repository(config, "alice/docs", full=("laptop",), borg_name="old")

    assert_answer(
        run_authkeys(config_file, default_user),
        borg_line(config, default_user, "photos", laptop, "laptop"),
    )
    assert_answer(
        run_authkeys(config_file, newer_user),
        borg_line(config, newer_user, "mail", laptop, "laptop", borg="/opt/borg-1.4/bin/borg"),
    )
    assert_answer(
        run_authkeys(config_file, older_user, "ssh-ed25519", laptop.blob),
        borg_line(config, older_user, "docs", laptop, "laptop", borg="/usr/local/bin/borg-1.2"),
    )


def test_repo_set_changes_the_next_answer(
    alice: Config, public_keys: list[PublicKey], tmp_path: Path
) -> None:
    config = versioned(alice, VERSIONS)
    config_file = write(config, tmp_path / "borghive.toml")
    laptop = public_keys[0]
    add_key("alice", laptop, "laptop")
    repo_user = create_repository(config, "alice/photos", full=("laptop",))
    repos.set_repository(config, NoAccounts(), "alice/photos", RepoChanges(borg_name="1.4"))
    assert_answer(
        run_authkeys(config_file, repo_user),
        borg_line(config, repo_user, "photos", laptop, "laptop", borg="/opt/borg-1.4/bin/borg"),
    )
    repos.set_repository(config, NoAccounts(), "alice/photos", RepoChanges(clear_borg=True))
    assert_answer(
        run_authkeys(config_file, repo_user),
        borg_line(config, repo_user, "photos", laptop, "laptop"),
    )


def test_a_name_the_configuration_lost_is_refused_and_logged(
    alice: Config, public_keys: list[PublicKey], tmp_path: Path
) -> None:
    laptop = public_keys[0]
    add_key("alice", laptop, "laptop")
    repo_user = create_repository(
        versioned(alice, VERSIONS), "alice/photos", full=("laptop",), borg_name="1.4"
    )
    # The admin removed "1.4" from [borg.versions] afterwards.
    config_file = write(versioned(alice, {"old": VERSIONS["old"]}), tmp_path / "borghive.toml")

    result = run_with_devlog(tmp_path / "devlog.json", config_file, repo_user)

    assert_one_refusal_line(
        result,
        "refusing: AuthKeysError: repository 'photos' is served by borg '1.4', which "
        "[borg.versions] does not name",
    )
