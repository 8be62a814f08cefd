"""scripts/lib.sh leaves the machine as it found it after installing packages: the daemons
an install brought are disabled and stopped unless they were on before, and the empty
``main`` PostgreSQL cluster Debian creates is dropped only when this install created it.

bash runs the real functions with a PATH of nothing but stubs (``systemctl``,
``pg_lsclusters``, ``pg_dropcluster``, which record their calls and keep their state in
files) and the few tools lib.sh uses, so nothing on the host is asked or changed.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[2] / "scripts" / "lib.sh"
BASH = shutil.which("bash") or "/bin/bash"
TOOLS = ("dirname", "grep", "awk", "sort", "cat", "mkdir", "rm", "sed", "touch")

SYSTEMCTL = """#!/bin/bash
echo "systemctl $*" >> "$STUBS/calls"
[ -e "$STUBS/systemctl-fails" ] && exit 1
case "$1" in
    is-enabled) grep -qx "$3" "$STUBS/enabled" 2>/dev/null ;;
    is-active) grep -qx "$3" "$STUBS/active" 2>/dev/null ;;
    *) exit 0 ;;
esac
"""
PG_LSCLUSTERS = """#!/bin/bash
[ "$1" = --no-header ] || exit 2
[ -e "$STUBS/clusters" ] || exit 0
while read -r version name; do
    echo "$version $name 5432 down postgres /var/lib/postgresql/$version/$name log"
done < "$STUBS/clusters"
"""
PG_DROPCLUSTER = """#!/bin/bash
echo "pg_dropcluster $*" >> "$STUBS/calls"
sed -i "/^$2 $3\\$/d" "$STUBS/clusters"
"""


@dataclass
class Machine:
    """The stub directory: what is enabled, running and which clusters exist."""

    stubs: Path

    def write(self, name: str, *lines: str) -> None:
        (self.stubs / name).write_text("".join(f"{line}\n" for line in lines))

    def run(
        self, packages: str, install: str = ":"
    ) -> tuple[subprocess.CompletedProcess[str], list[str]]:
        """Source lib.sh, note what is on, run the ``install`` shell text (what apt-get
        would do), then ``leave_as_found`` for ``packages``; returns bash and the calls."""
        script = (
            f"source {LIB}\n"
            f"PG_CONFIG_ROOT={self.stubs}/etc-postgresql\n"
            f"services_before=$(_services_on $(_services_of {packages}))\n"
            "clusters_before=$(_pg_clusters)\n"
            f"{install}\n"
            f'leave_as_found "$services_before" "$clusters_before" {packages}\n'
        )
        done = subprocess.run(
            [BASH, "-c", script],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env={"PATH": str(self.stubs), "STUBS": str(self.stubs)},
        )
        calls = self.stubs / "calls"
        return done, calls.read_text().splitlines() if calls.exists() else []


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found is not None, tool
        (stubs / tool).symlink_to(found)
    for name, text in (
        ("systemctl", SYSTEMCTL),
        ("pg_lsclusters", PG_LSCLUSTERS),
        ("pg_dropcluster", PG_DROPCLUSTER),
    ):
        (stubs / name).write_text(text)
        (stubs / name).chmod(0o755)
    return Machine(stubs)


def _changes(calls: list[str]) -> list[str]:
    """The calls that change something (not the is-enabled/is-active questions)."""
    return [call for call in calls if " is-" not in call]


def test_the_main_cluster_this_install_created_is_dropped_and_postgresql_disabled(
    machine: Machine,
) -> None:
    install = 'echo "17 main" > "$STUBS/clusters"; echo postgresql > "$STUBS/enabled"'
    done, calls = machine.run("postgresql", install)
    assert done.returncode == 0, done.stderr
    assert _changes(calls) == [
        "pg_dropcluster --stop 17 main",
        "systemctl disable --quiet postgresql",
        "systemctl stop postgresql",
    ]
    assert (machine.stubs / "clusters").read_text() == ""
    assert "dropping the empty PostgreSQL cluster 17/main" in done.stderr


def test_a_cluster_that_was_there_before_is_kept_and_its_service_left_alone(
    machine: Machine,
) -> None:
    machine.write("clusters", "15 main", "15 reports")
    machine.write("enabled", "postgresql")
    install = 'echo "17 main" >> "$STUBS/clusters"'
    done, calls = machine.run("postgresql-17", install)
    assert done.returncode == 0, done.stderr
    assert _changes(calls) == ["pg_dropcluster --stop 17 main"]
    assert (machine.stubs / "clusters").read_text() == "15 main\n15 reports\n"


def test_a_cluster_left_behind_by_a_removed_server_is_not_dropped(machine: Machine) -> None:
    """pg_lsclusters lists nothing before the install (postgresql-common was removed), but
    the old cluster's configuration is there: the install brings it back, it stays."""
    left = machine.stubs / "etc-postgresql" / "15" / "main"
    left.mkdir(parents=True)
    (left / "postgresql.conf").write_text("port = 5432\n")
    done, calls = machine.run("postgresql", 'echo "15 main" > "$STUBS/clusters"')
    assert done.returncode == 0, done.stderr
    assert [call for call in calls if call.startswith("pg_")] == []
    assert (machine.stubs / "clusters").read_text() == "15 main\n"


def test_each_daemon_installed_is_disabled_and_stopped_unless_it_was_on(
    machine: Machine,
) -> None:
    machine.write("active", "rsync")  # running before: the admin's, left alone
    packages = "openssh-server nslcd slapd rsync libnss-ldapd borgbackup"
    install = 'printf "ssh\\nnslcd\\nslapd\\nrsync\\n" > "$STUBS/enabled"'
    done, calls = machine.run(packages, install)
    assert done.returncode == 0, done.stderr
    assert _changes(calls) == [
        f"systemctl {verb} {unit}".replace("disable ", "disable --quiet ")
        for unit in ("ssh", "nslcd", "slapd")
        for verb in ("disable", "stop")
    ]


def test_packages_without_daemons_change_nothing(machine: Machine) -> None:
    done, calls = machine.run("borgbackup ldap-utils openssl", 'echo "17 main" > "$STUBS/x"')
    assert done.returncode == 0, done.stderr
    assert calls == []


def test_a_failing_pg_lsclusters_does_not_stop_the_script(machine: Machine) -> None:
    """lib.sh runs under set -euo pipefail: a pg_lsclusters that fails lists nothing."""
    (machine.stubs / "pg_lsclusters").write_text("#!/bin/bash\nexit 1\n")
    done, calls = machine.run("postgresql", 'echo postgresql > "$STUBS/enabled"')
    assert done.returncode == 0, done.stderr
    assert _changes(calls) == ["systemctl disable --quiet postgresql", "systemctl stop postgresql"]


def test_without_systemctl_the_cluster_is_still_dropped(machine: Machine) -> None:
    (machine.stubs / "systemctl").unlink()
    done, calls = machine.run("postgresql", 'echo "17 main" > "$STUBS/clusters"')
    assert done.returncode == 0, done.stderr
    assert calls == ["pg_dropcluster --stop 17 main"]


def test_a_systemctl_that_fails_without_systemd_is_tolerated(machine: Machine) -> None:
    """In a container systemctl exists but every call fails (no systemd running)."""
    install = 'echo "17 main" > "$STUBS/clusters"; touch "$STUBS/systemctl-fails"'
    done, calls = machine.run("postgresql openssh-server", install)
    assert done.returncode == 0, done.stderr
    assert "pg_dropcluster --stop 17 main" in calls
    assert "systemctl disable --quiet ssh" in calls
    assert "systemctl disable --quiet postgresql" in calls
