"""Two borg series on one storage host, end to end: a repository served by Debian's borg
next to one served by the other series (1.2 and 1.4, whichever Debian does not ship here),
each set with ``repo create --borg``, each used by a client of its own version through the
forced command; and ``repo set --borg`` switching the next login.

Everything is real, as in test_borg_login.py: slapd, the store, the installed
``borghive``, a private sshd + nslcd login host, the real borg binaries on both ends.
Which borg served a session is read from sshd's log (the forced command it started) and
confirmed by the version that binary reports.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.borg import PASSPHRASE, BorgBinary
from tests.harness.config import toml_text
from tests.harness.environment import BORGHIVE, expose_script, missing_service, public_dir
from tests.harness.sshd import Site

pytestmark = [pytest.mark.sshd, pytest.mark.e2e, pytest.mark.slapd]

TIMEOUT = 120


class VersionsSite(Site):
    """slapd, the store, the configuration with [borg.versions] naming both series, the
    login host, and alice with one key."""

    def __init__(self, client: Path, debian: BorgBinary, other: BorgBinary) -> None:
        super().__init__(client, "k1")
        self.client = client
        self.server = public_dir("borghive-e2e-versions-")
        self.config = self.server / "borghive.toml"
        self.database = self.server / "state" / "borghive.db"
        self.command = self.server / "authorized-keys"
        self.key = self.keys["k1"]
        self.borgs = {debian.series: debian, other.series: other}
        self.debian = debian
        self.users: dict[str, str] = {}

    def start(self) -> None:
        self.slapd.start()
        self.database.parent.mkdir(mode=0o755)
        self.command.write_text(
            f'#!/bin/sh\nexec {BORGHIVE} --config {self.config} authkeys "$@"\n'
        )
        self.command.chmod(0o755)
        self.start_host(
            arguments="%u %t %k", command_user="nobody", namespace_setup=expose_script()
        )
        assert self.host is not None
        self.config.write_text(self._config_text(self.host.port))
        self.config.chmod(0o644)
        self.cli("migrate")
        self.database.chmod(0o644)
        self.cli("user", "add", "alice")
        self.cli("key", "add", "alice", str(self.key.with_suffix(".pub")), "--name", "k1")

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.server, ignore_errors=True)

    def _config_text(self, port: int) -> str:
        slapd = self.slapd
        versions = {series: str(borg.path) for series, borg in self.borgs.items()}
        return toml_text({
            "store": {"url": f"sqlite:///{self.database}"},
            "repos": {"root": str(self.repos), "host": "127.0.0.1", "ssh_port": port},
            "borg": {"path": str(self.debian.path), "versions": versions},
            "accounts": {"backend": "ldap"},
            "ldap": {
                "url": slapd.url,
                "start_tls": False,
                "bind_dn": slapd.service_dn,
                "bind_password_file": str(slapd.service_password_file),
                "base_dn": slapd.suffix,
                "users_dn": slapd.people_dn,
                "groups_dn": slapd.groups_dn,
            },
        })  # fmt: skip

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(BORGHIVE), "--config", str(self.config), *args],
            capture_output=True, text=True, timeout=TIMEOUT, check=False,
        )  # fmt: skip
        if check:
            assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    def create(self, name: str, *options: str) -> str:
        created = json.loads(
            self.cli("repo", "create", f"alice/{name}", "--key", "k1", *options, "--json").stdout
        )
        self.users[name] = created["repository"]["repo_user"]
        return self.users[name]

    def path(self, name: str) -> Path:
        return self.repos / self.users[name] / name

    def borg(self, client: BorgBinary, name: str, *args: str) -> subprocess.CompletedProcess[str]:
        """``borg ARGS`` of ``client`` against repository ``name`` through the login host."""
        assert self.host is not None
        base = self.client / f"borg-{client.series}"
        base.mkdir(exist_ok=True)
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.client),
            "LANG": "C.UTF-8",
            "BORG_RSH": shlex.join(self.host.ssh_argv(self.key)),
            "BORG_PASSPHRASE": PASSPHRASE,
            "BORG_BASE_DIR": str(base),
            "BORG_REPO": f"ssh://{self.users[name]}@127.0.0.1:{self.host.port}/./{name}",
        }
        result = subprocess.run(
            [str(client.path), *args], cwd=self.client, env=environment,
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT,
            check=False,
        )  # fmt: skip
        assert result.returncode == 0, (client, args, result.stdout, result.stderr)
        return result

    def served_by(self, name: str, since: int, timeout: float = 10.0) -> str:
        """The borg binary of the first forced command sshd started for repository
        ``name`` after log offset ``since`` (waiting for sshd to log it)."""
        assert self.host is not None
        marker = "Starting session: forced-command (key-option) '"
        deadline = time.monotonic() + timeout
        while True:
            for line in self.host.log[since:].splitlines():
                if marker in line and f" for {self.users[name]} " in f"{line} ":
                    command = line.split(marker, 1)[1]
                    # BORGHIVE_KEY=… exec BORG serve …
                    words = command.split()
                    assert words[1] == "exec" and words[3] == "serve", line
                    assert f"--restrict-to-repository {self.path(name)}'" in line
                    return words[2]
            if time.monotonic() > deadline:
                raise AssertionError(f"sshd logged no forced command for {name}")
            time.sleep(0.05)

    @property
    def log_size(self) -> int:
        assert self.host is not None
        return len(self.host.log)


def _require() -> None:
    Site.require()
    if not BORGHIVE.exists():
        missing_service(f"{BORGHIVE} not found")


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, debian_borg: BorgBinary, other_borg: BorgBinary
) -> Iterator[VersionsSite]:
    _require()
    site = VersionsSite(tmp_path_factory.mktemp("borg-versions"), debian_borg, other_borg)
    try:
        site.start()
        yield site
    finally:
        site.stop()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    (source / "notes.txt").write_text("two borgs, one host\n")
    (source / "random.bin").write_bytes(os.urandom(100_000))
    return source


def test_each_series_serves_its_own_repository(site: VersionsSite, files: Path) -> None:
    for series, borg in sorted(site.borgs.items()):
        name = f"r{series.replace('.', '')}"
        site.create(name, "--borg", series)
        since = site.log_size
        site.borg(borg, name, "init", "-e", "repokey")
        assert site.served_by(name, since) == str(borg.path)
        site.borg(borg, name, "create", f"::{name}-one", str(files))
        listed = site.borg(borg, name, "list", "--short").stdout
        assert listed == f"{name}-one\n"
        # The binary sshd started is the series it was set to.
        version = subprocess.run(
            [site.served_by(name, since), "--version"], capture_output=True, text=True, check=True
        ).stdout.strip()
        assert version == f"borg {borg.version}"
        shown = json.loads(site.cli("repo", "show", f"alice/{name}", "--json").stdout)
        assert shown["borg"] == {"name": series, "path": str(borg.path)}
    assert {b.series for b in site.borgs.values()} == {"1.2", "1.4"}


def test_repo_set_borg_switches_the_next_login(site: VersionsSite) -> None:
    debian = site.debian
    (other,) = [b for b in site.borgs.values() if b is not debian]
    site.create("switch")  # no --borg: borg.path, Debian's
    since = site.log_size
    site.borg(debian, "switch", "init", "-e", "repokey")
    assert site.served_by("switch", since) == str(debian.path)

    site.cli("repo", "set", "alice/switch", "--borg", other.series)
    since = site.log_size
    site.borg(other, "switch", "list", "--short")
    assert site.served_by("switch", since) == str(other.path)

    site.cli("repo", "set", "alice/switch", "--borg", "default")
    since = site.log_size
    site.borg(debian, "switch", "list", "--short")
    assert site.served_by("switch", since) == str(debian.path)
