"""repo create/set --borg NAME|default: the borg that serves a repository, stored as its
borg_name; an unknown name is a usage error naming the known ones, and changes nothing;
repo show names the borg in use and its path."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import MappingProxyType

import pytest

from borghive.config import BorgConfig
from borghive.store import open_store
from borghive.store.models import Repository
from tests.cli.helpers import assert_refused
from tests.harness.cli import Cli
from tests.harness.config import config_toml

VERSIONS = {"1.4": Path("/opt/borg-1.4/bin/borg"), "1.2": Path("/usr/bin/borg")}


@pytest.fixture
def versioned(populated: Cli) -> Cli:
    """``populated`` with [borg.versions] 1.4 and 1.2 in its configuration file."""
    borg = BorgConfig(versions=MappingProxyType(VERSIONS))
    populated.config = dataclasses.replace(populated.config, borg=borg)
    populated.config_file.write_text(config_toml(populated.config))
    return populated


def stored_borg(cli: Cli, name: str) -> str | None:
    with open_store(cli.config.store, readonly=True):
        repo = Repository.get(Repository.name == name)
        return repo.borg_name  # type: ignore[no-any-return]


def test_create_with_a_borg_stores_it_and_show_names_it(versioned: Cli) -> None:
    created = versioned.json("repo", "create", "alice/docs", "--borg", "1.4")
    assert created["repository"]["borg_name"] == "1.4"
    assert stored_borg(versioned, "docs") == "1.4"
    shown = versioned.json("repo", "show", "alice/docs")
    assert shown["borg"] == {"name": "1.4", "path": "/opt/borg-1.4/bin/borg"}
    assert shown["repository"]["borg_name"] == "1.4"
    assert "1.4 (/opt/borg-1.4/bin/borg)" in versioned.ok("repo", "show", "alice/docs").stdout
    listed = {r["name"]: r["borg_name"] for r in versioned.json("repo", "list")}
    assert listed == {"photos": None, "docs": "1.4"}


def test_without_borg_a_repository_uses_borg_path(versioned: Cli) -> None:
    shown = versioned.json("repo", "show", "alice/photos")
    assert shown["borg"] == {"name": "default", "path": "/usr/bin/borg"}
    assert shown["repository"]["borg_name"] is None
    assert "default (/usr/bin/borg)" in versioned.ok("repo", "show", "alice/photos").stdout


def test_set_switches_the_borg_and_default_goes_back(versioned: Cli) -> None:
    assert versioned.json("repo", "set", "alice/photos", "--borg", "1.2")["borg_name"] == "1.2"
    assert stored_borg(versioned, "photos") == "1.2"
    said = versioned.ok("repo", "set", "alice/photos", "--borg", "default").stdout
    assert said.strip().endswith("borg default")
    assert stored_borg(versioned, "photos") is None
    # Other changes leave the borg alone.
    versioned.ok("repo", "set", "alice/photos", "--borg", "1.4")
    versioned.ok("repo", "set", "alice/photos", "--quota", "20G")
    assert stored_borg(versioned, "photos") == "1.4"


@pytest.mark.parametrize("name", ["1.3", "DEFAULT", "", "1.4 ", "../borg"])
def test_an_unknown_name_is_a_usage_error_that_changes_nothing(versioned: Cli, name: str) -> None:
    before = versioned.snapshot()
    for command in (("create", "alice/docs"), ("set", "alice/photos")):
        line = assert_refused(
            versioned.run("repo", *command, "--borg", name, "--quota", "20G"),
            "invalid value for '--borg': unknown borg",
            "expected one of default, 1.2, 1.4",
            exit_code=2,
        )
        assert repr(name) in line
    assert versioned.snapshot() == before
    assert stored_borg(versioned, "photos") is None


def test_without_versions_only_default_is_known(populated: Cli) -> None:
    assert_refused(
        populated.run("repo", "create", "alice/docs", "--borg", "1.4"),
        "expected one of default (names come from [borg.versions])",
        exit_code=2,
    )
    populated.ok("repo", "set", "alice/photos", "--borg", "default")


def test_show_says_when_the_configuration_lost_the_name(versioned: Cli) -> None:
    versioned.ok("repo", "set", "alice/photos", "--borg", "1.4")
    borg = BorgConfig(versions=MappingProxyType({"1.2": Path("/usr/bin/borg")}))
    versioned.config = dataclasses.replace(versioned.config, borg=borg)
    versioned.config_file.write_text(config_toml(versioned.config))
    shown = versioned.json("repo", "show", "alice/photos")
    assert shown["borg"] == {"name": "1.4", "path": None}
    text = versioned.ok("repo", "show", "alice/photos").stdout
    assert "1.4: NOT in [borg.versions], logins fail" in text
