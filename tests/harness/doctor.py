"""A storage host that passes every doctor check, built in a directory sshd would trust.

``tmp_path`` lies below /tmp, which is world-writable and, for pytest's own directory,
closed to other users; so the host is built in a fresh directory below /run (or /var/lib),
whose every ancestor is root's and not group/world-writable. The command user is
``nobody``, the repository group ``nobody``'s primary group. The tests need root (chown).
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from borghive.config import Config
from borghive.config_load import load_config
from borghive.login.cache import write_login_cache
from borghive.service.doctor.checks import run_checks
from borghive.service.doctor.findings import Check
from borghive.store import open_store
from borghive.store.migrations import apply_migrations
from tests.harness.environment import missing_service

USER = "nobody"


def _trusted(directory: Path) -> bool:
    for path in (directory, *directory.parents):
        info = path.stat()
        if info.st_uid != 0 or info.st_mode & 0o022:
            return False
    return True


@pytest.fixture
def trusted_dir() -> Iterator[Path]:
    """A new directory (root, 0755) whose every ancestor is root's and not writable by
    group or others; removed afterwards."""
    if os.geteuid() != 0:
        missing_service("the doctor tests need root (chown, other users' permissions)")
    parent = next((p for p in (Path("/run"), Path("/var/lib")) if p.is_dir() and _trusted(p)), None)
    if parent is None:
        missing_service("no root-owned, non-writable /run or /var/lib to build a host in")
    assert parent is not None
    path = Path(tempfile.mkdtemp(prefix="borghive-doctor-", dir=parent))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def executable(path: Path, text: str = "#!/bin/sh\nexit 0\n") -> Path:
    """A root-owned program, mode 0755."""
    path.write_text(text)
    path.chmod(0o755)
    return path


FAKE_BORG = '#!/bin/sh\n[ "$1" = --version ] && echo "borg 1.2.4"\nexit 0\n'
"""A stand-in borg: answers --version as borg 1.2.4 does."""


@dataclass
class Host:
    """A storage host laid out under ``root``; ``run()`` runs every doctor check on it."""

    root: Path
    config: Config
    config_file: Path
    authkeys_command: Path
    inotify_dir: Path
    sshd_config: Path
    user: str = USER

    @property
    def database(self) -> Path:
        return self.root / "lib" / "borghive.db"

    def run(self) -> list[Check]:
        return run_checks(
            self.config,
            sshd_config=self.sshd_config,
            authkeys_command=self.authkeys_command,
            command_user=self.user,
            inotify_dir=self.inotify_dir,
        )

    def check(self, name: str) -> Check:
        """The one check called ``name`` of a full run."""
        (found,) = [c for c in self.run() if c.name == name]
        return found

    def reload(self) -> None:
        """Read the configuration file again (after a test rewrote it)."""
        self.config = load_config(self.config_file, environ={})


def write_limits(directory: Path, watches: int = 100000, instances: int = 128) -> Path:
    """A stand-in for /proc/sys/fs/inotify."""
    directory.mkdir(exist_ok=True)
    (directory / "max_user_watches").write_text(f"{watches}\n")
    (directory / "max_user_instances").write_text(f"{instances}\n")
    return directory


@pytest.fixture
def host(trusted_dir: Path, tmp_path: Path) -> Host:
    """Everything right: programs in bin/ (root, 0755), the SQLite store in lib/ (root,
    group of the command user, 0750/0640, migrated), repos/ (root, 0755), the configuration
    file (0644), generous inotify limits."""
    gid = pwd.getpwnam(USER).pw_gid
    group = grp.getgrgid(gid).gr_name
    bin_dir = trusted_dir / "bin"
    bin_dir.mkdir(mode=0o755)
    command = executable(bin_dir / "borghive")
    borg, rrsync = executable(bin_dir / "borg", FAKE_BORG), executable(bin_dir / "rrsync")
    lib = trusted_dir / "lib"
    lib.mkdir()
    os.chown(lib, 0, gid)
    lib.chmod(0o750)
    (trusted_dir / "repos").mkdir(mode=0o755)
    config_file = trusted_dir / "borghive.toml"
    config_file.write_text(
        f'[store]\nurl = "sqlite:///{lib}/borghive.db"\n'
        f'[repos]\nroot = "{trusted_dir}/repos"\nhost = "backup.example.org"\n'
        f'group = "{group}"\ngid = {gid}\n'
        f'[borg]\npath = "{borg}"\nrrsync_path = "{rrsync}"\n'
    )
    config_file.chmod(0o644)
    config = load_config(config_file, environ={})
    with open_store(config.store, check_schema=False, create=True) as db:
        apply_migrations(db, config.repos.public_host)
    database = lib / "borghive.db"
    os.chown(database, 0, gid)
    database.chmod(0o640)
    assert stat.S_IMODE(lib.stat().st_mode) == 0o750
    assert write_login_cache(config, environ={}) is not None  # as any admin command does
    sshd_config = write_sshd_config(trusted_dir / "sshd_config", command, config_file, group)
    limits = write_limits(tmp_path / "inotify")
    return Host(trusted_dir, config, config_file, command, limits, sshd_config)


def write_sshd_config(
    path: Path, command: Path, config_file: Path | None, group: str, user: str = USER
) -> Path:
    """An sshd configuration whose Match block runs ``command`` (with ``--config
    config_file`` unless None) as ``user``, like etc/ssh/sshd_config.d/borghive.conf."""
    option = "" if config_file is None else f" --config {config_file}"
    path.write_text(
        "PasswordAuthentication no\n"
        f"Match Group {group}\n"
        "    AuthorizedKeysFile none\n"
        f"    AuthorizedKeysCommand {command}{option} authkeys %u %t %k\n"
        f"    AuthorizedKeysCommandUser {user}\n"
    )
    return path
