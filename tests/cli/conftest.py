"""Fixtures for CLI tests: a runner on a migrated store and a store populated through the
services. ``cli.run(...)`` invokes ``borghive --config <file> ...`` in-process with the
harness's runner (``tests/harness/cli.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from borghive.config import Config
from borghive.service.repositories import lifecycle as repos
from borghive.service.repositories.backends import accounts_backend
from borghive.service.users import keys
from borghive.service.users import people as users
from borghive.store import open_store
from tests.harness.cli import Cli
from tests.harness.keys import ed25519_line


@pytest.fixture
def console_width() -> int:
    """A wide console keeps people-facing tables from truncating values."""
    return 200


@pytest.fixture
def cli(migrated: Config, config_file: Path) -> Cli:
    """A runner on a migrated, empty store (both back ends through ``backend``)."""
    return Cli(config_file=config_file, config=migrated, runner=CliRunner())


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    """A fresh ed25519 public key file with comment ``alice@laptop``."""
    path = tmp_path / "id_ed25519.pub"
    path.write_text(ed25519_line("alice@laptop"))
    return path


@pytest.fixture
def populated(cli: Cli) -> Cli:
    """Users alice (with e-mail) and bob; alice's keys ``laptop`` and ``desktop``; bob's key
    ``phone``; repository alice/photos opened by alice/laptop (full access). Made through
    the services in one connection: the commands themselves are tested one by one."""
    with open_store(cli.config.store):
        users.add_user("alice", "alice@example.org")
        users.add_user("bob")
        for owner, name in (("alice", "laptop"), ("alice", "desktop"), ("bob", "phone")):
            keys.add_key(owner, ed25519_line(f"{owner}@{name}"), name, rsa_min_bits=3072)
        accounts = accounts_backend(cli.config)  # "none": the test config provisions nothing
        repos.create_repository(cli.config, accounts, "alice/photos", keys=["laptop"])
    return cli
