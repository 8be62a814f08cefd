"""doctor runs every configured borg (borg.path and each [borg.versions] entry) with
--version and names the version, or what is wrong with it."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from types import MappingProxyType

from borghive.service.doctor.borgs import ConfiguredBorg, borg_version, check_borg
from tests.harness.borg import BorgBinary
from tests.harness.doctor import Host, executable


def with_versions(host: Host, **versions: Path) -> Host:
    """``host`` with ``[borg.versions]`` set (names with dots passed as ``v1_4`` → ``1.4``)."""
    table = {name.removeprefix("v").replace("_", "."): path for name, path in versions.items()}
    borg = dataclasses.replace(host.config.borg, versions=MappingProxyType(table))
    host.config = dataclasses.replace(host.config, borg=borg)
    return host


def test_every_configured_borg_is_a_finding_with_its_version(
    host: Host, debian_borg: BorgBinary, other_borg: BorgBinary
) -> None:
    with_versions(host, v1_2=debian_borg.path, v1_4=other_borg.path)
    checks = {c.name: c for c in host.run() if c.name.startswith("borg")}
    assert list(checks) == ["borg", "borg 1.2", "borg 1.4"]
    assert checks["borg"].status == "ok"
    assert "borg 1.2.4" in checks["borg"].detail  # the harness's stand-in
    assert (checks["borg 1.2"].status, checks["borg 1.4"].status) == ("ok", "ok")
    assert checks["borg 1.2"].detail == (
        f"borg.versions.1.2 {debian_borg.path}: borg {debian_borg.version}, "
        "executable by repository users"
    )
    assert f"borg {other_borg.version}," in checks["borg 1.4"].detail


def test_a_missing_version_fails_naming_its_key(host: Host) -> None:
    with_versions(host, v1_4=host.root / "bin" / "borg-1.4")
    check = host.check("borg 1.4")
    assert check.status == "FAIL"
    assert f"borg.versions.1.4 {host.root / 'bin' / 'borg-1.4'} does not exist" in check.detail
    assert host.check("borg").status == "ok"  # the others are still looked at


def test_a_version_repository_users_cannot_run_fails(host: Host) -> None:
    program = executable(host.root / "bin" / "borg-1.4", "#!/bin/sh\necho borg 1.4.5\n")
    program.chmod(0o700)
    with_versions(host, v1_4=program)
    check = host.check("borg 1.4")
    assert check.status == "FAIL"
    assert "repository users cannot read and execute" in check.detail


def test_a_program_that_is_not_borg_fails(host: Host) -> None:
    program = executable(host.root / "bin" / "rsync", "#!/bin/sh\necho 'rsync  version 3.2.7'\n")
    with_versions(host, rsync=program)
    check = host.check("borg rsync")
    assert check.status == "FAIL"
    assert "printed 'rsync  version 3.2.7', not 'borg X.Y.Z': is it borg?" in check.detail


def test_a_borg_that_fails_names_its_exit_and_last_line(host: Host) -> None:
    text = (
        "#!/bin/sh\necho 'Traceback (most recent call last):' >&2\n"
        "echo 'ImportError: x' >&2\nexit 2\n"
    )
    with_versions(host, broken=executable(host.root / "bin" / "broken", text))
    check = host.check("borg broken")
    assert check.status == "FAIL"
    assert check.detail.endswith("--version exited 2: ImportError: x")


def test_a_borg_that_hangs_is_given_up_on_in_bounded_time(host: Host) -> None:
    program = executable(host.root / "bin" / "stuck", "#!/bin/sh\nexec sleep 30\n")
    started = time.monotonic()
    check = check_borg(ConfiguredBorg("stuck", "borg.versions.stuck", program), 0, timeout=0.5)
    assert time.monotonic() - started < 5
    assert check.status == "FAIL"
    assert "--version did not answer within 0.5 s" in check.detail


def test_a_binary_that_cannot_be_started_says_why(tmp_path: Path) -> None:
    program = tmp_path / "no-interpreter"
    program.write_text("#!/nonexistent/python\n")
    program.chmod(0o755)
    try:
        borg_version(program)
    except ValueError as exc:
        assert str(exc) == "cannot be run: No such file or directory"
    else:
        raise AssertionError("a program without its interpreter ran")


def test_borg_version_reads_the_real_borgs(debian_borg: BorgBinary, other_borg: BorgBinary) -> None:
    assert borg_version(debian_borg.path) == debian_borg.version
    assert borg_version(other_borg.path) == other_borg.version
    assert {debian_borg.series, other_borg.series} == {"1.2", "1.4"}
