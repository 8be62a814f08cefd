"""``repo move``'s pure decisions: where a rerun goes on, which target is refused, which
mode logins come back with, and the command lines between hosts."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from borghive.config import Config, HostsConfig, ReposConfig
from borghive.errors import ConflictError, InvalidInputError, NotFoundError, RefusedError
from borghive.service.moves.commands import Peer, peer_command, rsync_command
from borghive.service.moves.plan import (
    REPORT,
    RESUME,
    START,
    OpenMove,
    TargetHost,
    check_host_name,
    check_target,
    decide,
    differences,
    mode_to_restore,
)


def test_a_new_move_starts_on_the_host_the_repository_lives_on() -> None:
    assert decide("alice/home", "a", "a", "b", None) == START


def test_a_new_move_elsewhere_names_the_host_to_run_it_on() -> None:
    with pytest.raises(ConflictError) as raised:
        decide("alice/home", "a", "b", "c", None)
    assert "lives on storage host a" in raised.value.message
    assert raised.value.hint == "run the command on a"


def test_a_move_to_the_host_it_lives_on_is_invalid() -> None:
    with pytest.raises(InvalidInputError, match="already lives on a"):
        decide("alice/home", "a", "a", "a", None)


@pytest.mark.parametrize("step", ["disabled", "copying", "copied", "verified"])
def test_an_open_move_before_the_switch_resumes(step: str) -> None:
    assert decide("alice/home", "a", "a", "b", OpenMove(3, "a", "b", step)) == RESUME


def test_a_switched_move_only_reports_from_any_host() -> None:
    # After the switch the repository lives on the target: the rerun still just reports.
    assert decide("alice/home", "b", "a", "b", OpenMove(3, "a", "b", "switched")) == REPORT
    assert decide("alice/home", "b", "c", "b", OpenMove(3, "a", "b", "switched")) == REPORT


def test_an_open_move_to_another_host_refuses() -> None:
    with pytest.raises(ConflictError, match="a move to b is open"):
        decide("alice/home", "a", "a", "c", OpenMove(3, "a", "b", "copying"))


def test_an_open_move_resumes_only_on_its_source() -> None:
    with pytest.raises(ConflictError, match="runs on a"):
        decide("alice/home", "a", "c", "b", OpenMove(3, "a", "b", "copying"))


def test_an_unknown_step_is_refused() -> None:
    with pytest.raises(RefusedError, match="unknown step"):
        decide("alice/home", "a", "a", "b", OpenMove(3, "a", "b", "weird"))


def _host(**changes: object) -> TargetHost:
    values: dict[str, object] = {
        "name": "b",
        "peer_address": "10.0.0.2",
        "peer_port": 2222,
        "repos_root": "/srv/borg",
        "draining": False,
    }
    values.update(changes)
    return TargetHost(**values)  # type: ignore[arg-type]


def test_targets_refused() -> None:
    with pytest.raises(NotFoundError, match="storage host b not found"):
        check_target("alice/home", "b", None, new=True)
    with pytest.raises(RefusedError, match="not reported its repos root"):
        check_target("alice/home", "b", _host(repos_root=None), new=True)
    with pytest.raises(RefusedError, match="draining"):
        check_target("alice/home", "b", _host(draining=True), new=True)


def test_a_draining_target_does_not_stop_a_started_move() -> None:
    assert check_target("alice/home", "b", _host(draining=True), new=False).name == "b"


@pytest.mark.parametrize(
    "name",
    ["", "a b", "-x", "x" * 254, "a..b", "[zz]", "a/b", "a;b", "$(id)", "a\nb", "éa", "1.2.3.999"],
)
def test_odd_host_names_are_invalid(name: str) -> None:
    with pytest.raises(InvalidInputError, match="invalid storage host name"):
        check_host_name(name)


@pytest.mark.parametrize("name", ["b", "store-2.example.org", "10.0.0.2", "[2001:db8::1]"])
def test_host_names(name: str) -> None:
    assert check_host_name(name) == name


def test_logins_come_back_with_the_saved_mode_unless_they_came_back_already() -> None:
    assert mode_to_restore("export", "disabled") == "export"
    assert mode_to_restore("borg", "import") == "import"


def test_differences_are_every_listed_line() -> None:
    assert differences("") == []
    assert differences("\n\n") == []
    listed = ">f.st...... home/data/0/5\n*deleting   home/extra\n"
    assert differences(listed) == [">f.st...... home/data/0/5", "*deleting   home/extra"]


def _config(**hosts: object) -> Config:
    return Config(
        repos=ReposConfig(root=Path("/srv/repos")),
        hosts=HostsConfig(**hosts),  # type: ignore[arg-type]
    )


def test_rsync_keeps_links_sparse_files_owners_and_resumes() -> None:
    config = _config(
        ssh_identity_file=Path("/etc/borghive/id"), ssh_known_hosts_file=Path("/etc/kh")
    )
    command = rsync_command(config, Peer("b", "10.0.0.2", 2222, "/srv/b"), "r1234567")
    assert command[0] == "/usr/bin/rsync"
    for option in ("-aHS", "--numeric-ids", "--delete", "--partial", "--protect-args"):
        assert option in command
    assert "--partial-dir=.rsync-partial" in command
    assert "-n" not in command
    shell = shlex.split(command[command.index("-e") + 1])
    assert shell[:5] == ["/usr/bin/ssh", "-p", "2222", "-o", "BatchMode=yes"]
    assert "/etc/borghive/id" in shell
    assert "UserKnownHostsFile=/etc/kh" in shell
    assert command[command.index("--rsync-path") + 1] == "/usr/bin/rsync"
    assert command[-3:] == ["--", "/srv/repos/r1234567/", "root@10.0.0.2:/srv/b/r1234567/"]


def test_the_comparison_is_a_dry_run_listing_changes() -> None:
    command = rsync_command(
        _config(), Peer("b", "2001:db8::1", 22, "/srv/b"), "r1234567", dry_run=True
    )
    assert "-n" in command
    assert "--itemize-changes" in command
    assert "--checksum" not in command
    assert command[-1] == "root@[2001:db8::1]:/srv/b/r1234567/"


def test_peer_commands_are_quoted_for_the_remote_shell() -> None:
    config = _config(peer_command="/opt/borg hive/borghive")
    command = peer_command(config, Peer("b", "h", 22, "/srv"), ["repo", "move-check", "7"])
    assert command[-2] == "root@h"
    assert shlex.split(command[-1]) == ["/opt/borg hive/borghive", "repo", "move-check", "7"]
