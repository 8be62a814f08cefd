"""The forced command serves each repository with its own borg: borg.path, or the
[borg.versions] entry the repository names; a name the configuration lacks fails the
login closed. And the one function the rest asks (service/repositories/borgs.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import MappingProxyType

import pytest

from borghive.config import BorgConfig, Config
from borghive.config_load import load_config
from borghive.errors import EXIT_CONFIG, ConfigError, InvalidInputError
from borghive.login.cache import login_settings, write_login_cache
from borghive.login.lines import AuthKeysError, Grant, authorized_line, forced_command
from borghive.login.settings import Settings, cached_settings
from borghive.service.repositories.borgs import (
    UnknownBorgError,
    borg_binary,
    borg_in_use,
    chosen_borg,
)
from tests.harness.authkeys import settings_for
from tests.harness.keys import ed25519_line

VERSIONS = {"1.4": "/opt/borg-1.4/bin/borg", "1.2": "/usr/bin/borg"}
PUBLIC_KEY = " ".join(ed25519_line("alice@laptop").split()[:2])


def grant(borg_name: str | None) -> Grant:
    public_key = PUBLIC_KEY
    return Grant(
        "photos", "borg", None, "ssh-ed25519", public_key, "laptop", "full", None, borg_name
    )


def command(settings: Settings, borg_name: str | None) -> str:
    line = forced_command(settings, "rabcdefg", grant(borg_name))
    assert line is not None
    return line


def test_no_name_is_borg_path() -> None:
    settings = settings_for(borg_path="/usr/local/bin/borg", borg_versions=VERSIONS)
    assert " exec /usr/local/bin/borg serve --umask 0077 " in command(settings, None)


@pytest.mark.parametrize("name", ["1.4", "1.2"])
def test_a_name_is_its_entry(name: str) -> None:
    settings = settings_for(borg_versions=VERSIONS)
    line = command(settings, name)
    assert f" exec {VERSIONS[name]} serve --umask 0077 --restrict-to-repository " in line


def test_a_name_the_configuration_lacks_fails_closed() -> None:
    settings = settings_for(borg_versions={"1.4": "/opt/borg-1.4/bin/borg"})
    with pytest.raises(AuthKeysError) as caught:
        authorized_line(settings, "rabcdefg", grant("1.2"))
    assert str(caught.value) == (
        "repository 'photos' is served by borg '1.2', which [borg.versions] does not name"
    )


def test_no_versions_at_all_fails_closed_for_a_named_repository() -> None:
    with pytest.raises(AuthKeysError):
        authorized_line(settings_for(), "rabcdefg", grant("1.4"))


def test_an_unsafe_path_in_the_copy_fails_closed() -> None:
    # The loader refuses such a path; the login path checks it again.
    settings = settings_for(borg_versions={"1.4": "/opt/borg 1.4/borg --evil"})
    with pytest.raises(AuthKeysError, match=r"borg\.versions entry"):
        authorized_line(settings, "rabcdefg", grant("1.4"))


@pytest.mark.parametrize(
    "versions", [["1.4"], {"1.4": 14}, {14: "/opt/borg"}, None, "1.4=/opt/borg"]
)
def test_a_copy_whose_table_is_not_names_to_paths_is_refused(versions: object) -> None:
    with pytest.raises(ValueError, match="borg_versions"):
        Settings.from_mapping({**login_settings(Config()), "borg_versions": versions})


def test_the_login_copy_carries_the_table(tmp_path: Path) -> None:
    path = tmp_path / "borghive.toml"
    path.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path}/b.db"\n[borg.versions]\n'
        '"1.4" = "/opt/borg-1.4/bin/borg"\n'
    )
    config = load_config(path, {})
    assert write_login_cache(config, environ={}) is not None
    cached = cached_settings(str(path))
    assert cached is not None
    assert cached.borg_versions == {"1.4": "/opt/borg-1.4/bin/borg"}
    assert " exec /opt/borg-1.4/bin/borg serve " in command(cached, "1.4")


def test_the_copy_and_the_loader_give_the_same_command(tmp_path: Path) -> None:
    path = tmp_path / "borghive.toml"
    path.write_text('[borg.versions]\n"1.4" = "/opt/borg-1.4/bin/borg"\n')
    config = load_config(path, {})
    write_login_cache(config, environ={})
    cached = cached_settings(str(path))
    assert cached is not None
    fresh = Settings.from_mapping(login_settings(config))
    for name in (None, "1.4"):
        assert command(cached, name) == command(fresh, name)
        assert command(fresh, name).split(" exec ")[1].split()[0] == str(borg_binary(config, name))


# -- borg_binary and the names --borg takes -----------------------------------------------


def configured() -> Config:
    versions = MappingProxyType({"1.4": Path("/opt/borg-1.4/bin/borg")})
    return dataclasses.replace(
        Config(source="/etc/borghive/borghive.toml"), borg=BorgConfig(versions=versions)
    )


def test_borg_binary() -> None:
    config = configured()
    assert borg_binary(config, None) == Path("/usr/bin/borg")
    assert borg_binary(config, "1.4") == Path("/opt/borg-1.4/bin/borg")


def test_borg_binary_of_an_unknown_name_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError) as caught:
        borg_binary(configured(), "1.2")
    assert caught.value.exit_code == EXIT_CONFIG
    assert caught.value.message == (
        "borg '1.2': not in [borg.versions] of /etc/borghive/borghive.toml (known: default, 1.4)"
    )


def test_chosen_borg() -> None:
    config = configured()
    assert chosen_borg(config, "default") is None
    assert chosen_borg(config, "1.4") == "1.4"
    with pytest.raises(UnknownBorgError) as caught:
        chosen_borg(config, "1.2")
    assert isinstance(caught.value, InvalidInputError)
    assert "expected one of default, 1.4" in caught.value.message


def test_borg_in_use() -> None:
    config = configured()
    assert borg_in_use(config, None).name == "default"
    assert borg_in_use(config, "1.4").path == "/opt/borg-1.4/bin/borg"
    assert borg_in_use(config, "1.2").path is None
