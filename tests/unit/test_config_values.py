"""Configuration values checked as they will be used: ``repos.host`` (clients' ``ssh://``
URLs, the printed ``borg init`` line), ``accounts.shell`` (LDAP ``loginShell``), the URLs
(``store.url``, ``ldap.url``, ``alerts.pushover_url``) and the SQLite file; through the
real loader, from the file and from the environment, and through ``config check``."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from borghive.config import Config
from borghive.config_load import load_config
from borghive.errors import ConfigError
from tests.harness.cli import Cli

# Characters that would end a line, split a shell word or a URL, or vanish in C strings.
HARMFUL = st.one_of(
    st.sampled_from(list(" \t\n\r\x00\x0b\x0c\x7f;|&$`'\"<>()*?#@/\\")),
    st.characters(max_codepoint=0x1F),
    st.characters(min_codepoint=0x80, blacklist_categories=("Cs",)),
)
per_file = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def problems(tmp_path: Path, section: str, key: str, value: str) -> list[str]:
    """The problems ``load_config`` reports for ``[section] key = value`` (TOML-escaped)."""
    path = tmp_path / "borghive.toml"
    path.write_text(f"[{section}]\n{key} = {toml_string(value)}\n")
    try:
        load_config(path, {})
    except ConfigError as exc:
        assert exc.exit_code == 78
        first, *rest = exc.message.splitlines()
        assert first == "invalid configuration"
        return [line.strip().removeprefix(f"{path}: ") for line in rest]
    return []


def toml_string(value: str) -> str:
    """``value`` as a TOML basic string, every character outside printable ASCII escaped."""
    return (
        '"'
        + "".join(c if " " <= c <= "~" and c not in '"\\' else f"\\U{ord(c):08X}" for c in value)
        + '"'
    )


def assert_refused(found: list[str], key: str, fragment: str) -> None:
    assert any(p.startswith(f"{key}: ") and fragment in p for p in found), found


# -- repos.host --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["backup.example.org", "backup", "192.0.2.7", "[2001:db8::1]", "host_1.lan", "a.b.c."],
)
def test_a_host_name_or_address_is_accepted(tmp_path: Path, value: str) -> None:
    assert problems(tmp_path, "repos", "host", value) == []


@per_file
@given(st.sampled_from(["backup.example.org", "192.0.2.7", "h"]), HARMFUL, st.integers(0, 30))
@example("backup.example.org", "\n", 6)  # a second command in the printed borg init line
@example("backup.example.org", " ", 6)
@example("backup.example.org", "\x00", 18)
def test_repos_host_with_a_space_line_break_nul_or_shell_character_is_refused(
    tmp_path: Path, name: str, character: str, where: int
) -> None:
    value = name[:where] + character + name[where:]
    assert_refused(problems(tmp_path, "repos", "host", value), "repos.host", "not a host name")


def test_repos_host_is_checked_from_the_environment_too(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"repos\.host: not a host name"):
        load_config(None, {"BORGHIVE_REPOS_HOST": "h\nrm -rf /"})
    for value in ("::1", "300.1.1.1", "-oProxyCommand=x"):
        assert problems(tmp_path, "repos", "host", value), value


# -- accounts.shell ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["/bin/sh", "/bin/bash", "/usr/local/bin/rbash-5.2"])
def test_a_plain_absolute_shell_is_accepted(tmp_path: Path, value: str) -> None:
    assert problems(tmp_path, "accounts", "shell", value) == []


@per_file
@given(HARMFUL.filter(lambda c: c != "/"), st.integers(1, 8))
@example(" ", 7)  # "/bin/sh -c id"
@example("\n", 7)
def test_a_shell_that_is_not_a_plain_absolute_path_is_refused(
    tmp_path: Path, character: str, where: int
) -> None:
    value = (
        "/bin/sh"[:where] + character + "/bin/sh"[where:] + ("-c id" if character == " " else "")
    )
    assert_refused(problems(tmp_path, "accounts", "shell", value), "accounts.shell", "plain")


@pytest.mark.parametrize("value", ["bin/sh", "/bin/../bin/sh", "", "/bin/sh -c id"])
def test_a_relative_climbing_or_empty_shell_is_refused(tmp_path: Path, value: str) -> None:
    assert_refused(problems(tmp_path, "accounts", "shell", value), "accounts.shell", "plain")


# -- the URLs ----------------------------------------------------------------------------------

URL_KEYS = [
    ("store", "url", "postgresql://borghive@db.example.org:{port}/borghive"),
    ("ldap", "url", "ldaps://ldap.example.org:{port}"),
    ("alerts", "pushover_url", "https://push.example.org:{port}/1/messages.json"),
]


@pytest.mark.parametrize(("section", "key", "template"), URL_KEYS)
@pytest.mark.parametrize("port", ["1", "389", "65535"])
def test_urls_with_a_port_from_1_to_65535_are_accepted(
    tmp_path: Path, section: str, key: str, template: str, port: str
) -> None:
    assert problems(tmp_path, section, key, template.format(port=port)) == []


@pytest.mark.parametrize(("section", "key", "template"), URL_KEYS)
@pytest.mark.parametrize("port", ["abc", "0", "65536", "99999", "-1", "+5", "", "1e3"])
def test_urls_with_a_port_that_is_not_1_to_65535_are_refused(
    tmp_path: Path, section: str, key: str, template: str, port: str
) -> None:
    found = problems(tmp_path, section, key, template.format(port=port))
    assert_refused(found, f"{section}.{key}", "the port is not a number from 1 to 65535")


@pytest.mark.parametrize(("section", "key", "template"), URL_KEYS)
@pytest.mark.parametrize("character", [" ", "\n", "\x00", "\t", "é"])
def test_urls_with_whitespace_or_control_characters_are_refused(
    tmp_path: Path, section: str, key: str, template: str, character: str
) -> None:
    value = template.format(port=1).replace(".example", f".exa{character}mple")
    found = problems(tmp_path, section, key, value)
    assert any(p.startswith(f"{section}.{key}: ") for p in found), found


@per_file
@given(st.text(string.printable, max_size=60))
@example("https://x:abc/")
@example("http://[::1/")
def test_any_pushover_url_is_accepted_only_when_it_parses(tmp_path: Path, value: str) -> None:
    found = problems(tmp_path, "alerts", "pushover_url", value)
    assert all(p.startswith("alerts.pushover_url: ") for p in found), found
    if value.startswith(("http://", "https://")) and not found:
        from borghive.rules.urls import HTTP_SCHEMES, parse_url

        parse_url(value, HTTP_SCHEMES)  # raises if the loader let a bad URL through


@pytest.mark.parametrize(
    ("section", "key", "value", "fragment"),
    [
        ("alerts", "pushover_url", "https://u:s3cr3t@push.example.org/", "pushover_token_file"),
        ("ldap", "url", "ldap://cn=admin:s3cr3t@ldap.example.org", "bind_password_file"),
        ("store", "url", "postgresql://u:s3cr3t@db/borghive", "store.password_file"),
        ("ldap", "url", "ldap://ldap.example.org/dc=example,dc=org", "ldap.base_dn"),
        ("ldap", "url", "ldap://ldap.example.org:abc", "the port"),
        ("alerts", "pushover_url", "ftp://push.example.org/", "expected http:// or https://"),
    ],
)
def test_credentials_and_paths_where_they_do_nothing_are_refused_unshown(
    tmp_path: Path, section: str, key: str, value: str, fragment: str
) -> None:
    found = problems(tmp_path, section, key, value)
    assert_refused(found, f"{section}.{key}", fragment)
    assert "s3cr3t" not in "\n".join(found)


# -- the SQLite file ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "sqlite://",
        "sqlite:///",
        "sqlite:////",
        "sqlite:////var/lib/borghive/",
        "sqlite:////var/lib/borg\x00hive.db",
        "sqlite:////var/lib/borg\nhive.db",
        "sqlite:relative.db",
        "sqlite://host/file.db",
    ],
)
def test_a_sqlite_url_without_a_plain_file_is_refused(tmp_path: Path, value: str) -> None:
    assert_refused(problems(tmp_path, "store", "url", value), "store.url", "")


@pytest.mark.parametrize("value", ["sqlite:////var/lib/borghive/borghive.db", "sqlite:///rel.db"])
def test_a_sqlite_file_is_accepted(tmp_path: Path, value: str) -> None:
    assert problems(tmp_path, "store", "url", value) == []


# -- config check ------------------------------------------------------------------------------


def test_config_check_lists_each_bad_value_on_its_line_and_exits_78(tmp_path: Path) -> None:
    path = tmp_path / "borghive.toml"
    path.write_text(
        '[store]\nurl = "sqlite:///"\n'
        '[repos]\nhost = "backup.example.org\\nrm -rf /"\n'
        '[accounts]\nshell = "/bin/sh -c id"\n'
        '[ldap]\nurl = "ldap://ldap.example.org:abc"\n'
        '[alerts]\npushover_url = "https://x:abc/"\n'
    )
    result = Cli(path, Config(), CliRunner()).run("config", "check")
    assert result.exit_code == 78
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert result.stderr.startswith("borghive: error: ")
    for key in ("store.url", "repos.host", "accounts.shell", "ldap.url", "alerts.pushover_url"):
        assert len([line for line in result.stderr.splitlines() if f": {key}: " in line]) == 1
    assert "rm -rf" not in result.stderr.replace("\\n", " ")  # the value is not echoed raw


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("maintenance.compact_every", "weekly", "invalid duration"),
        ("maintenance.check_every", "0d", "longer than zero"),
        ("maintenance.window", "25:00-03:00", "expected HH:MM-HH:MM"),
        ("maintenance.window", "01:00-01:00", "start and end are equal"),
        ("maintenance.lock_alert_after", "never", "invalid duration"),
        ("pings.listen", "localhost", "not an IPv4 or IPv6 address"),
        ("pings.public_url", "ftp://pings.example.org", "expected http:// or https://"),
        ("pings.public_url", "https://u:p@pings.example.org", "user or password"),
        ("pings.public_url", "https://pings.example.org:99999", "port"),
        ("pings.run_timeout", "6 hours", "invalid duration"),
    ],
)
def test_maintenance_and_pings_values_are_checked(key: str, value: str, words: str) -> None:
    import dataclasses

    from borghive.config import Config
    from borghive.config_parse import validate

    section, name = key.split(".")
    config = Config()
    config = dataclasses.replace(
        config, **{section: dataclasses.replace(getattr(config, section), **{name: value})}
    )
    problems = [p for p in validate(config) if p.startswith(key)]
    assert len(problems) == 1 and words in problems[0], problems


def test_maintenance_and_pings_defaults_are_valid() -> None:
    from borghive.config import Config
    from borghive.config_parse import validate

    assert validate(Config()) == []
