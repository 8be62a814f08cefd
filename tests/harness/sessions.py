"""Borg sessions for tests without sshd: real borg (or any program) started as a
repository user with the markers the forced command or maintenance would put in its
environment, and the client address sshd would set."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

from borghive.sessions.procs import KEY_MARKER, MAINTENANCE_MARKER
from tests.harness.borg import BORG, PASSPHRASE


def own(path: Path, uid: int) -> None:
    """Give ``path`` and everything below it to ``uid`` (group ``uid``), as a repository
    user's account owns its repository."""
    for directory, names, files in os.walk(path):
        os.chown(directory, uid, uid)
        for name in [*names, *files]:
            os.chown(os.path.join(directory, name), uid, uid, follow_symlinks=False)


def marked(
    argv: list[str],
    uid: int,
    *,
    base: Path,
    key: str | None = None,
    maintenance: str | None = None,
    source: tuple[str, int] | None = None,
    executable: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` as ``uid`` with borg's passphrase and base directory ``base`` (made
    and given to ``uid``), ``BORGHIVE_KEY=key``, ``BORGHIVE_MAINTENANCE=maintenance`` and
    ``SSH_CONNECTION`` from ``source`` (address, port) where given; ``executable`` runs
    instead of ``argv[0]`` (which is then only the name the process shows)."""
    base.mkdir(exist_ok=True)
    own(base, uid)
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(base),
        "BORG_BASE_DIR": str(base),
        "BORG_PASSPHRASE": PASSPHRASE,
        "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes",
    }
    if key is not None:
        environment[KEY_MARKER] = key
    if maintenance is not None:
        environment[MAINTENANCE_MARKER] = maintenance
    if source is not None:
        environment["SSH_CONNECTION"] = f"{source[0]} {source[1]} 127.0.0.1 22"
    return subprocess.Popen(
        argv,
        executable=executable,
        env=environment,
        user=uid,
        group=uid,
        extra_groups=[],
        cwd=base,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def holding_lock(repository: Path, uid: int, **markers: object) -> subprocess.Popen[bytes]:
    """A real ``borg with-lock REPOSITORY sleep 600`` as ``uid``: borg holds the
    repository's exclusive lock until it is signalled."""
    sleep = shutil.which("sleep") or "/bin/sleep"
    return marked([BORG, "with-lock", str(repository), sleep, "600"], uid, **markers)  # type: ignore[arg-type]


def stop(process: subprocess.Popen[bytes], signum: int = signal.SIGKILL) -> None:
    """Signal ``process``'s group (borg and what it started) and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)
    process.wait(timeout=30)
