"""The root app: ``config check``, ``migrate``, and errors turned into exit codes."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from borghive import __version__
from borghive.config import Config
from borghive.store.migrations import LATEST_VERSION
from tests.harness.cli import Cli
from tests.harness.net import free_port

from .helpers import assert_refused


@pytest.fixture
def bare(config: Config, config_file: Path) -> Cli:
    """A runner on a store that has not been migrated yet."""
    return Cli(config_file=config_file, config=config, runner=CliRunner())


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_version(tmp_path: Path) -> None:
    result = Cli(tmp_path / "unused.toml", Config(), CliRunner()).run("--version", config=False)
    assert result.exit_code == 0
    assert result.stdout == f"borghive {__version__}\n"


def test_config_check_for_people_and_scripts(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/store/borghive.db"
    path = _write(
        tmp_path / "borghive.toml",
        f'[store]\nurl = "{url}"\n[repos]\nroot = "{tmp_path}/repos"\nhost = "backup.example.org"\n'
        '[accounts]\nshell = "/usr/sbin/nologin"\n',
    )
    cli = Cli(path, Config(), CliRunner())
    human = cli.ok("config", "check").stdout
    assert f"configuration OK ({path})" in human
    for text in ("[store]", "[repos]", "[ldap]", url, "backup.example.org", "/usr/sbin/nologin"):
        assert text in human

    effective = cli.json("config", "check")
    assert {"source", "store", "repos", "borg", "keys", "accounts", "ldap"} <= set(effective)
    assert effective["source"] == str(path)
    assert effective["store"]["url"] == url
    assert effective["repos"]["root"] == f"{tmp_path}/repos"
    assert effective["repos"]["public_host"] == "backup.example.org"
    assert effective["accounts"]["backend"] == "none"
    assert effective["accounts"]["shell"] == "/usr/sbin/nologin"
    assert not (tmp_path / "store").exists()  # checking does not touch the store


def test_migrate_creates_the_schema_once(bare: Cli) -> None:
    result = bare.ok("migrate")
    assert "applied migration 1: initial schema" in result.stdout
    assert bare.json("user", "list") == []

    again = bare.ok("migrate").stdout
    assert "is up to date" in again
    assert f"schema version {LATEST_VERSION}" in again
    again_json = bare.json("migrate")
    assert (again_json["applied"], again_json["version"]) == ([], LATEST_VERSION)
    assert again_json["host"]["name"] == "backup.example.org"


def test_migrate_json_lists_the_applied_versions(bare: Cli) -> None:
    migrated = bare.json("migrate")
    assert migrated["applied"] == list(range(1, LATEST_VERSION + 1))
    assert migrated["version"] == LATEST_VERSION
    # The migrating host registers itself with its capacity (borghive host list).
    assert migrated["host"]["name"] == "backup.example.org"
    assert migrated["host"]["capacity"] > 0
    assert [h["name"] for h in bare.json("host", "list")] == ["backup.example.org"]


def test_an_unmigrated_store_is_a_configuration_error(bare: Cli) -> None:
    for command in (("user", "list"), ("repo", "create", "alice/docs"), ("key", "list")):
        result = bare.run(*command)
        assert_refused(result, "store", exit_code=78)
        assert "borghive migrate" in result.stderr.splitlines()[1]


def test_an_invalid_config_file_lists_every_problem(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "bad.toml",
        '[store]\nurl = 5\nbogus = 1\n[nope]\n[repos]\nuid_minimum = 3\nssh_port = "22"\n',
    )
    result = Cli(path, Config(), CliRunner()).run("user", "list")
    assert result.exit_code == 78
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == "borghive: error: invalid configuration"
    problems = [line.strip() for line in lines[1:]]
    assert sorted(problems) == sorted(
        [
            f"{path}: nope: unknown section",
            f"{path}: store.url: expected a string, got int 5",
            f"{path}: store.bogus: unknown key",
            f"{path}: repos.uid_minimum: unknown key",
            f"{path}: repos.ssh_port: expected an integer, got str '22'",
        ]
    )


def test_invalid_values_are_listed_together(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "bad.toml",
        '[store]\nurl = "mysql://db"\n[repos]\nroot = "relative"\nuid_min = 5\n'
        '[borg]\numask = "999"\n',
    )
    result = Cli(path, Config(), CliRunner()).run("config", "check")
    assert result.exit_code == 78
    assert result.stdout == ""
    for fragment in ("store.url", "repos.root", "repos.uid_min", "borg.umask"):
        assert fragment in result.stderr


def test_a_password_in_the_store_url_is_refused_without_showing_it(tmp_path: Path) -> None:
    path = _write(tmp_path / "pw.toml", '[store]\nurl = "postgresql://u:s3cr3t@db/borghive"\n')
    result = Cli(path, Config(), CliRunner()).run("user", "list")
    assert result.exit_code == 78
    assert "password_file" in result.stderr
    assert "s3cr3t" not in result.stderr + result.stdout


def test_a_missing_config_file_is_a_configuration_error(tmp_path: Path) -> None:
    result = Cli(tmp_path / "missing.toml", Config(), CliRunner()).run("user", "list")
    assert_refused(result, "missing.toml", "no such file", exit_code=78)


def test_an_unreachable_postgresql_is_temporarily_unavailable(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    path = _write(
        tmp_path / "pg.toml",
        f'[store]\nurl = "postgresql://postgres@127.0.0.1:{port}/borghive"\nconnect_timeout = 2\n',
    )
    cli = Cli(path, Config(), CliRunner())
    started = time.monotonic()
    for command in (("user", "list"), ("user", "add", "alice"), ("migrate",)):
        assert_refused(cli.run(*command), "cannot connect", f"127.0.0.1:{port}", exit_code=75)
    assert time.monotonic() - started < 15


USAGE_ERRORS = [
    (("user", "list", "--bogus"), "no such option: --bogus", "borghive user list"),
    (("user", "list", "--jsn"), "no such option: --jsn (Possible options: --json)", None),
    (("user", "add"), "missing argument 'NAME'", "borghive user add"),
    (("repo", "frobnicate"), "no such command 'frobnicate'", "borghive repo"),
    (("--bogus", "user", "list"), "no such option: --bogus", "borghive"),
    (
        ("stats", "prune", "--keep-all-days", "x"),
        "invalid value for '--keep-all-days': 'x' is not a valid int",
        "borghive stats prune",
    ),
    *(
        (
            ("watch", "--stats-delay", value),
            f"invalid value for '--stats-delay': {value} is out of range: "
            "must be 0 to 86400 seconds",
            "borghive watch",
        )
        for value in ("nan", "inf", "-1.0", "86401.0")
    ),
    (("watch", "--stats-delay", "1e300"), "1e+300 is out of range", "borghive watch"),
    # untrusted text is echoed escaped, on one line
    (("user", "list", "--bo\x1b[2Jgus"), "no such option: --bo\\x1b[2Jgus", None),
    (("user", "list", "--a\nb"), "no such option: --a\\x0ab", None),
]


@pytest.mark.parametrize(("argv", "message", "command"), USAGE_ERRORS)
def test_usage_errors_are_one_line_and_a_hint(
    cli: Cli, argv: tuple[str, ...], message: str, command: str | None
) -> None:
    result = cli.run(*argv)
    assert result.exit_code == 2, (argv, result.stderr)
    assert result.stdout == ""
    first, hint = result.stderr.splitlines()
    assert first.startswith("borghive: error: ")
    assert message.lower() in first.lower()
    assert hint == f"borghive: hint: see '{command or 'borghive user list'} --help'"
    assert_refused(result, exit_code=2)  # no box, no control characters, no traceback
    assert cli.snapshot() == ([], [], [])


def test_a_huge_bad_argument_is_cut_short(cli: Cli) -> None:
    result = cli.run("stats", "prune", "--keep-all-days", "9" * 100_000 + "x")
    line = assert_refused(result, "invalid value for '--keep-all-days'", exit_code=2)
    assert len(line) < 320
    assert line.endswith("...")


def test_a_bare_group_still_shows_its_help(cli: Cli) -> None:
    result = cli.run("user")
    assert result.exit_code == 2
    assert "Manage users" in result.stdout + result.stderr
    assert "add" in result.stdout + result.stderr


def test_a_directory_as_the_config_is_a_configuration_error(tmp_path: Path) -> None:
    result = Cli(tmp_path, Config(), CliRunner()).run("config", "check")
    assert_refused(result, f"{tmp_path}: is a directory", exit_code=78)


def test_a_fifo_or_device_as_the_config_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero")):
        started = time.monotonic()
        result = Cli(path, Config(), CliRunner()).run("config", "check")
        assert_refused(result, f"{path}: not a regular file", exit_code=78)
        assert time.monotonic() - started < 5


def test_a_deeply_nested_config_is_one_configuration_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "deep.toml", "[store]\nurl = " + "[" * 100_000 + "]" * 100_000)
    assert_refused(
        Cli(path, Config(), CliRunner()).run("config", "check"),
        "not valid TOML: nested too deeply",
        exit_code=78,
    )


def test_debug_prints_a_traceback_for_a_domain_error(cli: Cli) -> None:
    result = cli.run("--debug", "user", "show", "nobody")
    assert result.exit_code == 1
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert "borghive.errors.NotFoundError: user 'nobody' not found" in result.stderr
    assert result.stderr.splitlines()[-2:] == [
        "borghive: error: user 'nobody' not found",
        "borghive: hint: see 'borghive user list'",
    ]


def test_without_debug_there_is_no_traceback(cli: Cli) -> None:
    assert_refused(cli.run("user", "show", "nobody"), "user 'nobody' not found")


def test_json_output_is_one_document(cli: Cli) -> None:
    out = cli.ok("user", "add", "alice", "--json").stdout
    assert json.loads(out)["name"] == "alice"
    assert out.endswith("}\n")
