"""For the authkeys tests: run the installed command the way sshd does (as ``nobody`` if
asked, with a private /dev/log if asked: ``devlog.py``), build the lines it must print, and
set up or tamper with store rows. Fixture ``alice``: a store with users alice and bob."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from borghive.config import Config
from borghive.login.cache import login_settings
from borghive.login.settings import Settings
from borghive.rules.accounts import NoAccounts
from borghive.service.repositories import lifecycle as repos
from borghive.service.users import keys
from borghive.service.users import people as users
from borghive.store import execute, is_sqlite
from tests.harness.environment import BORGHIVE, NOBODY, as_user
from tests.harness.keys import PublicKey

DEVLOG = Path(__file__).with_name("devlog.py")
# What sshd gives an AuthorizedKeysCommand (sshd_config(5)): nothing else.
SSHD_ENV = {
    "PATH": "/usr/bin:/bin",
    "USER": "nobody",
    "LOGNAME": "nobody",
    "HOME": "/nonexistent",
    "LANG": "C.UTF-8",
}


@pytest.fixture
def alice(store: Config) -> Config:
    """A bound, migrated store with users alice and bob (no keys yet)."""
    users.add_user("alice")
    users.add_user("bob")
    return store


def settings_for(**values: Any) -> Settings:
    """The login path's settings of the built-in configuration, with ``values`` replaced
    (as the login copy would carry them)."""
    return Settings.from_mapping({**login_settings(Config()), **values})


def run_authkeys(
    config_file: Path | None,
    *arguments: str,
    as_nobody: bool = False,
    timeout: float = 30,
    env: dict[str, str] | None = None,
    refresh: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """``borghive --config FILE authkeys ARGUMENTS`` with sshd's environment and stdin. On a
    bound PostgreSQL store, FILE's login snapshot is rebuilt first (as the watch daemon
    would have done after the test's changes) unless ``refresh`` is False."""
    if refresh:
        refresh_for(config_file)
    command = [str(BORGHIVE)]
    if config_file is not None:
        command += ["--config", str(config_file)]
    command += ["authkeys", *arguments]
    if as_nobody:
        command = as_user(*NOBODY) + command
    return subprocess.run(
        command,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=SSHD_ENV if env is None else env,
        timeout=timeout,
        check=False,
    )


def refresh_for(config_file: Path | None) -> None:
    """Rebuild the login snapshot of ``config_file`` from the bound store when that is
    PostgreSQL (nothing for SQLite, no file, a file that does not load (authkeys must
    refuse that one by itself), or another store than the file's)."""
    from borghive.config_load import load_config
    from borghive.errors import ConfigError
    from borghive.service.hosts.snapshot import refresh_snapshot
    from borghive.store.models import database

    if config_file is None or database.obj is None or is_sqlite() or not config_file.is_file():
        return
    try:
        config = load_config(config_file, {})
    except ConfigError:
        return
    if getattr(database.obj, "borghive_url", None) == config.store.url:  # that store is bound
        refresh_snapshot(config)


@dataclass(frozen=True)
class LoggedRun:
    """What :func:`run_with_devlog` saw: devlog.py's report, the wall time, and whether any
    process was left in the command's session."""

    pid: int
    returncode: int
    stdout: str
    datagrams: list[str]
    elapsed: float
    left_behind: bool


def run_with_devlog(
    report: Path, config_file: Path, *arguments: str, refresh: bool = True
) -> LoggedRun:
    """``borghive --config FILE authkeys ARGUMENTS`` with sshd's environment and a private
    /dev/log (devlog.py in a private mount namespace), in a session of its own; on
    PostgreSQL the snapshot rebuilt first unless ``refresh`` is False."""
    host_has_devlog = Path("/dev/log").exists()
    if refresh:
        refresh_for(config_file)
    started = time.monotonic()
    wrapper = subprocess.Popen(
        [
            "/usr/bin/unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            sys.executable,
            str(DEVLOG),
            str(report),
            "--",
            str(BORGHIVE),
            "--config",
            str(config_file),
            "authkeys",
            *arguments,
        ],
        stdin=subprocess.DEVNULL,
        env=SSHD_ENV,
        start_new_session=True,
    )
    try:
        assert wrapper.wait(timeout=60) == 0
    finally:
        elapsed = time.monotonic() - started
        try:
            os.killpg(wrapper.pid, 0)
            left_behind = True
        except ProcessLookupError:
            left_behind = False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(wrapper.pid, signal.SIGKILL)
    assert Path("/dev/log").exists() == host_has_devlog
    logged: dict[str, Any] = json.loads(report.read_text())
    return LoggedRun(**logged, elapsed=elapsed, left_behind=left_behind)


# LOG_AUTH (4) * 8 + LOG_WARNING (4)
PRIORITY = "<36>"


def assert_one_refusal_line(result: LoggedRun, reason: str) -> None:
    """Refused (non-zero, no output) and exactly one syslog line giving ``reason``."""
    assert (result.returncode != 0, result.stdout) == (True, "")
    assert len(result.datagrams) == 1, result.datagrams
    line = result.datagrams[0]
    assert line.startswith(PRIORITY)
    assert f" borghive-authkeys[{result.pid}]: " in line
    assert reason in line, line
    assert "\n" not in line.rstrip("\n")


def run_many(
    config_file: Path, calls: Sequence[Sequence[str]], **options: bool
) -> list[subprocess.CompletedProcess[bytes]]:
    """:func:`run_authkeys` for each argument list, a few at a time; results in order."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda call: run_authkeys(config_file, *call, **options), calls))


def assert_answer(result: subprocess.CompletedProcess[bytes], expected: str) -> None:
    """Exit 0 and exactly ``expected`` on stdout, byte for byte."""
    assert (result.returncode, result.stdout) == (0, expected.encode()), result.stderr


def assert_refused(result: subprocess.CompletedProcess[bytes]) -> None:
    """Failed closed: non-zero exit and not one byte on stdout."""
    assert result.returncode != 0, result.stdout
    assert result.stdout == b""


def borg_line(
    config: Config,
    repo_user: str,
    repo_name: str,
    key: PublicKey,
    key_name: str,
    *,
    serve_options: str = "",
    sources: str | None = None,
    borg: str = "/usr/bin/borg",
    umask: str = "0077",
) -> str:
    """The line expected for a borg-mode grant."""
    path = config.repos.root / repo_user / repo_name
    command = (
        f"BORGHIVE_KEY={key.fingerprint} exec "
        f"{borg} serve --umask {umask} --restrict-to-repository {path}{serve_options}"
    )
    return _line(command, key, key_name, sources)


def rrsync_line(
    config: Config, repo_user: str, repo_name: str, key: PublicKey, key_name: str, flag: str
) -> str:
    """The line expected for an import (``-wo``) or export (``-ro``) grant; an import first
    makes the directory, which rrsync needs and nothing else creates."""
    path = config.repos.root / repo_user / repo_name
    command = f"BORGHIVE_KEY={key.fingerprint} exec /usr/bin/rrsync {flag} {path}"
    if flag == "-wo":
        command = f"/bin/mkdir -p -m 0700 {path} && {command}"
    return _line(command, key, key_name, None)


def _line(command: str, key: PublicKey, key_name: str, sources: str | None) -> str:
    source_option = f',from="{sources}"' if sources else ""
    return f'restrict,command="{command}"{source_option} {key.text} {key_name}\n'


def add_key(owner: str, key: PublicKey, name: str, allowed_from: str | None = None) -> None:
    keys.add_key(owner, key.text, name, rsa_min_bits=3072, allowed_from=allowed_from)


def create_repository(
    config: Config,
    reference: str,
    *,
    full: tuple[str, ...] = (),
    append_only: tuple[str, ...] = (),
    quota: int | None = None,
    mode: str = "borg",
    borg_name: str | None = None,
) -> str:
    """Create a repository through the service layer; return its repository user."""
    created = repos.create_repository(
        config,
        NoAccounts(),
        reference,
        keys=list(full),
        append_only_keys=list(append_only),
        quota=quota,
        mode=mode,
        borg_name=borg_name,
    )
    return created.repository.repo_user


def tamper(sql: str, *parameters: object) -> None:
    """Write to the bound store behind the services' back; ``{p}`` is the placeholder."""
    execute(sql.format(p="?" if is_sqlite() else "%s"), parameters)
