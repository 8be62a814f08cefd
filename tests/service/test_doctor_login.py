"""Doctor checks what logins really run: the AuthorizedKeysCommand in sshd's configuration
(with Include and Match), the configuration file its command line names (when it is not
the one doctor was given), and the login copy beside that file."""

from __future__ import annotations

from pathlib import Path

import pytest

from borghive.config_load import load_config
from borghive.login.cache import write_login_cache
from borghive.service.doctor.checks import run_checks
from borghive.service.doctor.findings import Check
from borghive.service.doctor.login import check_login_copy
from borghive.service.doctor.sshd import (
    SshdConfigError,
    key_commands,
    login_target,
)
from tests.harness.doctor import USER, Host, write_sshd_config


def checks_of(host: Host, sshd_config: Path) -> dict[str, Check]:
    found = run_checks(host.config, sshd_config=sshd_config, inotify_dir=host.inotify_dir)
    return {check.name: check for check in found}


def test_include_match_and_the_global_user(tmp_path: Path) -> None:
    drop_ins = tmp_path / "sshd_config.d"
    drop_ins.mkdir()
    (drop_ins / "10-other.conf").write_text("Match User backup\n  ForceCommand /bin/true\n")
    (drop_ins / "50-borghive.conf").write_text(
        "# comment\nMatch Group borgrepos\n"
        "    AuthorizedKeysCommand=/opt/bh/bin/borghive -c /etc/bh.toml authkeys %u %t %k\n"
        "    AuthorizedKeysCommand /ignored authkeys %u\n"
    )
    main = tmp_path / "sshd_config"
    main.write_text(f"Include {drop_ins}/*.conf\nAuthorizedKeysCommandUser keyreader\nPort 22\n")

    (command,) = key_commands(main)

    assert command.match == "Match Group borgrepos"
    assert command.file == drop_ins / "50-borghive.conf"
    assert command.user == "keyreader"  # the global value: the block sets none
    target = login_target(command)
    assert target is not None
    assert (target.program, target.config_file) == (
        Path("/opt/bh/bin/borghive"),
        Path("/etc/bh.toml"),
    )


def test_a_match_block_ends_with_its_included_file(tmp_path: Path) -> None:
    drop_in = tmp_path / "a.conf"
    drop_in.write_text("Match Group borgrepos\n  AuthorizedKeysCommandUser inblock\n")
    main = tmp_path / "sshd_config"
    main.write_text(
        f"Include {drop_in}\nAuthorizedKeysCommand /usr/local/bin/borghive authkeys %u\n"
        "AuthorizedKeysCommandUser global\n"
    )

    (command,) = key_commands(main)

    assert (command.match, command.user) == (None, "global")
    target = login_target(command)
    assert target is not None and target.config_file == Path("/etc/borghive/borghive.toml")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("/usr/local/bin/borghive authkeys %u%t", "must be %u"),
        ("/usr/local/bin/borghive --frobnicate authkeys %u", "unknown option"),
        ("/usr/local/bin/borghive 'authkeys %u", "unbalanced quotes"),
        ("/usr/local/bin/borghive authkeys", "usage"),
    ],
)
def test_a_borghive_line_sshd_would_refuse_is_an_error(
    tmp_path: Path, line: str, reason: str
) -> None:
    main = tmp_path / "sshd_config"
    main.write_text(f"AuthorizedKeysCommand {line}\nAuthorizedKeysCommandUser nobody\n")
    (command,) = key_commands(main)
    with pytest.raises(SshdConfigError, match=reason):
        login_target(command)


def test_another_program_is_not_borghive(tmp_path: Path) -> None:
    main = tmp_path / "sshd_config"
    main.write_text("AuthorizedKeysCommand /usr/bin/sss_ssh_authorizedkeys %u\n")
    (command,) = key_commands(main)
    assert login_target(command) is None


def test_sshd_without_borghive_fails_and_a_missing_file_warns(host: Host, tmp_path: Path) -> None:
    other = tmp_path / "sshd_config"
    other.write_text("AuthorizedKeysCommand /usr/bin/sss_ssh_authorizedkeys %u\n")
    found = checks_of(host, other)["sshd config"]
    assert found.status == "FAIL"
    assert "/usr/bin/sss_ssh_authorizedkeys" in found.detail

    missing = checks_of(host, tmp_path / "nothing")["sshd config"]
    assert missing.status == "warn" and "does not exist" in missing.detail


def test_the_file_sshd_names_is_the_one_checked(host: Host) -> None:
    """sshd's line names another configuration, whose store the command user cannot read
    and which has no login copy: doctor says so, though its own configuration is fine."""
    other_lib = host.root / "other-lib"
    other_lib.mkdir(mode=0o700)
    other = host.root / "authkeys.toml"
    other.write_text(host.config_file.read_text().replace(str(host.root / "lib"), str(other_lib)))
    other.chmod(0o644)
    (other_lib / "borghive.db").write_bytes(b"")
    sshd_config = write_sshd_config(
        host.root / "sshd_config.other", host.authkeys_command, other, host.config.repos.group
    )

    found = checks_of(host, sshd_config)

    assert found["store"].status == "ok"  # doctor's own configuration
    assert found["store access"].status == "FAIL"
    assert f"{USER} cannot search {other_lib}" in found["store access"].detail
    assert found["login copy"].status == "warn"
    assert f"borghive --config {other} config check" in found["login copy"].detail

    assert write_login_cache(load_config(other, environ={}), environ={}) is not None
    assert checks_of(host, sshd_config)["login copy"].status == "ok"


def test_a_configuration_that_does_not_load_fails(host: Host) -> None:
    broken = host.root / "broken.toml"
    broken.write_text("[store\n")
    sshd_config = write_sshd_config(
        host.root / "sshd_config.broken", host.authkeys_command, broken, host.config.repos.group
    )

    found = checks_of(host, sshd_config)

    assert found["login configuration"].status == "FAIL"
    assert str(broken) in found["login configuration"].detail
    assert "login copy" not in found and "store access" not in found


def test_a_stale_or_unreadable_login_copy_warns(host: Host) -> None:
    assert check_login_copy(host.config, USER).status == "ok"
    copy = Path(f"{host.config_file}.login-cache")
    copy.chmod(0o600)
    unreadable = check_login_copy(host.config, USER)
    assert unreadable.status == "warn" and f"{USER} cannot read {copy}" in unreadable.detail

    copy.chmod(0o644)
    with host.config_file.open("a") as handle:
        handle.write("# edited after the copy was made\n")
    stale = check_login_copy(load_config(host.config_file, environ={}), USER)
    assert stale.status == "warn" and "not current" in stale.detail
