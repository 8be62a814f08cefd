"""``borghive authkeys`` in sshd's conditions: sshd's environment and stdin, the three ways
to name the configuration and the default path, an unprivileged reader that never writes,
and a login path that loads neither Typer, rich nor the ORM."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from borghive.config import Config
from borghive.config_load import DEFAULT_CONFIG_PATH
from tests.harness.authkeys import (
    SSHD_ENV,
    add_key,
    assert_answer,
    borg_line,
    create_repository,
    refresh_for,
    run_authkeys,
)
from tests.harness.config import config_toml, make_config
from tests.harness.environment import BORGHIVE, NOBODY, as_user
from tests.harness.keys import PublicKey

pytestmark = pytest.mark.e2e


def _sshd_call(command: list[str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        command,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=SSHD_ENV,
        timeout=30,
        check=False,
    )


@pytest.fixture
def photos(alice: Config, public_keys: list[PublicKey], config_file: Path) -> tuple[str, str]:
    """alice/photos opened by alice's key laptop: its repository user and expected line (on
    PostgreSQL, in the login snapshot of ``config_file``)."""
    add_key("alice", public_keys[0], "laptop")
    repo_user = create_repository(alice, "alice/photos", full=("laptop",))
    refresh_for(config_file)
    return repo_user, borg_line(alice, repo_user, "photos", public_keys[0], "laptop")


@pytest.mark.parametrize(
    "form", [["--config", "{}"], ["-c", "{}"], ["--config={}"]], ids=["long", "short", "equals"]
)
def test_configuration_flag_forms(
    photos: tuple[str, str], config_file: Path, form: list[str]
) -> None:
    repo_user, expected = photos
    options = [part.format(config_file) for part in form]

    assert_answer(_sshd_call([str(BORGHIVE), *options, "authkeys", repo_user]), expected)


@pytest.fixture(scope="session")
def etc_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the host's /etc, to bind over /etc in a private mount namespace."""
    copy = tmp_path_factory.mktemp("etc-copy") / "etc"
    subprocess.run(["cp", "-a", "/etc", str(copy)], check=True)
    return copy


@pytest.fixture
def default_config(etc_copy: Path, config: Config) -> Iterator[Path]:
    """The test configuration at DEFAULT_CONFIG_PATH inside the /etc copy."""
    assert DEFAULT_CONFIG_PATH.parts[:2] == ("/", "etc")
    path = etc_copy.joinpath(*DEFAULT_CONFIG_PATH.parts[2:])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(config_toml(config))
    yield path
    shutil.rmtree(path.parent)


def test_default_configuration_path(
    photos: tuple[str, str], etc_copy: Path, default_config: Path
) -> None:
    repo_user, expected = photos
    refresh_for(default_config)  # on PostgreSQL: /etc/borghive/borghive.toml.snapshot
    host_had_config = DEFAULT_CONFIG_PATH.parent.exists()

    result = _sshd_call(
        [
            "/usr/bin/unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            "/bin/sh",
            "-c",
            'mount --bind "$1" /etc && exec "$2" authkeys "$3"',
            "sh",
            str(etc_copy),
            str(BORGHIVE),
            repo_user,
        ]
    )

    assert_answer(result, expected)
    assert DEFAULT_CONFIG_PATH.parent.exists() == host_had_config


def _files(directory: Path) -> dict[str, tuple[int, int, int]]:
    return {
        path.name: (path.stat().st_mtime_ns, path.stat().st_size, path.stat().st_ino)
        for path in directory.iterdir()
    }


def test_unprivileged_reader_never_writes(
    world_readable: Path, public_keys: list[PublicKey]
) -> None:
    """The store as deployed: root-owned, readable by the group of sshd's
    AuthorizedKeysCommandUser (here nobody's group nogroup), not by others."""
    from borghive.service.users import people as users
    from borghive.store import open_store
    from borghive.store.migrations import apply_migrations

    directory = world_readable / "store"
    directory.mkdir(mode=0o750)
    store = directory / "borghive.db"
    config = make_config(world_readable, f"sqlite:///{store}")
    with open_store(config.store, check_schema=False, create=True) as db:
        apply_migrations(db)
        users.add_user("alice")
        add_key("alice", public_keys[0], "laptop")
        add_key("alice", public_keys[1], "desktop", allowed_from="2001:db8::/32")
        repo_user = create_repository(
            config, "alice/photos", full=("laptop",), append_only=("desktop",), quota=10**10
        )
    for path in (directory, store):
        os.chown(path, 0, 65534)
    store.chmod(0o640)
    config_file = world_readable / "borghive.toml"
    config_file.write_text(config_toml(config))
    config_file.chmod(0o644)
    before = _files(directory)
    expected = borg_line(
        config,
        repo_user,
        "photos",
        public_keys[1],
        "desktop",
        serve_options=" --append-only --storage-quota 10000000000",
        sources="2001:db8::/32",
    ) + borg_line(
        config,
        repo_user,
        "photos",
        public_keys[0],
        "laptop",
        serve_options=" --storage-quota 10000000000",
    )

    assert_answer(run_authkeys(config_file, repo_user, as_nobody=True), expected)
    assert_answer(
        run_authkeys(config_file, repo_user, "ssh-ed25519", public_keys[0].blob, as_nobody=True),
        expected.splitlines(keepends=True)[1],
    )
    # root could write the directory; the command must not either
    assert_answer(run_authkeys(config_file, repo_user), expected)
    assert _files(directory) == before
    # others than the group may not read it: refused, not an empty answer
    nobody_without_group = as_user(NOBODY[0], "--regid=65533", "--clear-groups")
    result = _sshd_call(
        [*nobody_without_group, str(BORGHIVE), "--config", str(config_file), "authkeys", repo_user]
    )
    assert (result.returncode != 0, result.stdout) == (True, b"")


LEAN_CHECK = """
import sys
sys.argv = ["borghive", "--config", sys.argv[1], "authkeys", sys.argv[2]]
import borghive.entry
try:
    borghive.entry.main()
except SystemExit as exit:
    print("exit", exit.code)
heavy = ("typer", "rich", "peewee", "click", "ldap3", "psycopg2")
print(sorted({name.split(".")[0] for name in sys.modules if name.split(".")[0] in heavy}))
"""


def test_login_path_stays_lean(backend: str, photos: tuple[str, str], config_file: Path) -> None:
    """Not even psycopg2 on PostgreSQL: authkeys reads the login snapshot with SQLite."""
    repo_user, expected = photos

    result = _sshd_call([sys.executable, "-c", LEAN_CHECK, str(config_file), repo_user])

    assert_answer(result, f"{expected}exit 0\n[]\n")


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_goes_through_typer(flag: str) -> None:
    result = _sshd_call([str(BORGHIVE), "authkeys", flag])

    assert result.returncode == 0, result.stderr
    text = result.stdout.decode()
    assert "Usage: borghive authkeys" in text
    assert "AuthorizedKeysCommand" in text
