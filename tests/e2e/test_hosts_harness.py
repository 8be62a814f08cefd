"""The multi-host harness itself (tests/harness/hosts.py): what the cross-host tests rely on.

Each host sees only its own disk at the shared repos root, its root lets the other hosts'
root in over SSH with their keys only (host keys checked, BORGHIVE_CONFIG set to the host's
configuration), borghive runs as the host it is asked to, and stopping the site leaves no
process, mount or file behind.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.hosts import HostsSite, StorageHost, hosts_site

pytestmark = [pytest.mark.sshd, pytest.mark.slapd, pytest.mark.pg, pytest.mark.e2e]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostsSite]:
    with hosts_site(tmp_path_factory.mktemp("hosts-harness"), "a", "b") as started:
        yield started


def _peer_ssh(source: StorageHost, target: StorageHost, *command: str, identity: Path | None = None
              ) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """root of ``source`` runs ``command`` on ``target`` as repo move's ssh does (ssh joins
    its words into one line for the remote shell: quote them)."""
    return subprocess.run(
        ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
         "-o", "IdentityAgent=none", "-i", str(identity or source.identity),
         "-o", f"UserKnownHostsFile={source.site.known_hosts}", "-o", "StrictHostKeyChecking=yes",
         "-p", str(target.port), "root@127.0.0.1", "--", shlex.join(command)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _in_namespace(host: StorageHost, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*host.namespace_prefix, "/bin/sh", "-c", script],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_each_host_sees_only_its_own_disk_at_the_repos_root(site: HostsSite) -> None:
    a, b = site.hosts["a"], site.hosts["b"]

    written = _in_namespace(a, f"echo a > {a.repos_root}/only-on-a")
    seen_by_b = _in_namespace(b, f"ls -A {b.repos_root}")
    try:
        assert written.returncode == 0, written.stderr
        assert (a.disk / "only-on-a").read_text() == "a\n"
        assert not (b.disk / "only-on-a").exists()
        assert seen_by_b.stdout == ""
        assert site.stray_files() == []
        assert a.repos_root == b.repos_root
    finally:
        (a.disk / "only-on-a").unlink(missing_ok=True)


def test_root_of_one_host_runs_commands_on_another_with_its_configuration(
    site: HostsSite,
) -> None:
    a, b = site.hosts["a"], site.hosts["b"]
    (b.disk / "marker").write_text("b\n")
    try:
        result = _peer_ssh(a, b, "sh", "-c", f'echo "$BORGHIVE_CONFIG"; ls {b.repos_root}; id -u')
    finally:
        (b.disk / "marker").unlink()

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [str(b.config_path), "marker", "0"]


def test_root_login_takes_only_the_other_hosts_keys(site: HostsSite) -> None:
    a, b = site.hosts["a"], site.hosts["b"]

    own_key = _peer_ssh(a, a, "true")  # a's key is not in a's own root keys
    client_key = _peer_ssh(a, b, "true", identity=site.keys["k1"])

    assert own_key.returncode == 255
    assert client_key.returncode == 255
    assert "Permission denied (publickey)" in own_key.stderr + client_key.stderr


def test_borghive_runs_as_the_host_it_is_asked_to(site: HostsSite) -> None:
    shown = {letter: host.json("config", "check") for letter, host in site.hosts.items()}
    migrated = site.sql("SELECT name FROM storage_host ORDER BY name")

    assert {letter: shown[letter]["repos"]["host"] for letter in shown} == {
        "a": "host-a.test",
        "b": "host-b.test",
    }
    assert shown["a"]["store"]["url"].startswith("postgresql://")
    assert shown["a"]["repos"]["ssh_port"] == site.hosts["a"].port
    assert ("host-a.test",) in migrated


def test_stopping_the_site_leaves_nothing_behind(tmp_path: Path) -> None:
    with hosts_site(tmp_path, "a") as small:
        host = small.hosts["a"]
        host.watch_start()
        paths = (small.public, small.private)
        sshd = host.sshd
        assert sshd is not None and sshd.pids()
        port = small.postgres.port

    assert not any(path.exists() for path in paths)
    assert sshd.pids() == []
    assert _processes_mentioning(*paths) == []
    assert not small.postgres.running
    assert port not in _listening_ports()


def _listening_ports() -> set[int]:
    ports = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A":  # TCP_LISTEN
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _processes_mentioning(*paths: Path) -> list[str]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if any(str(path).encode() in command for path in paths):
                found.append(command.decode(errors="replace"))
    return found
