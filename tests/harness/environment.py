"""What every test runs in: CI or not, the installed ``borghive`` command, an environment
without the caller's ``BORGHIVE_*`` variables, directories other users may enter, and a way
to run a program as another user (``nobody``) from any checkout.

Running as another user from any checkout: a root admin's checkout is often below a
directory only root may enter (``/root/borghive``, mode 0700, or the interpreter in
``/root/.pyenv``), so ``nobody`` could not even start the virtualenv's ``borghive``.
:func:`as_user` runs the program in a private mount namespace of its own where each such
directory is covered by a 0755 tmpfs into which only the children on the way are bound
back: the virtualenv, the interpreter it was made from and borghive's package directory
(the checkout, for an editable install). Nothing changes on the host: no chmod, no mount
outside that namespace, which ends with the program; the program runs the checkout's own
code, as the tests as root do. Where nothing blocks (a checkout in /work, /srv, ...) the
prefix is just ``setpriv``.
"""

from __future__ import annotations

import atexit
import functools
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"

BORGHIVE = Path(sys.executable).parent / "borghive"
"""The console script installed next to this interpreter (the project's virtualenv)."""

NOBODY = ("--reuid=65534", "--regid=65534", "--clear-groups")
"""setpriv(1) options for user and group nobody/nogroup (65534) without other groups."""


def missing_service(reason: str) -> NoReturn:
    """Skip locally, fail under CI=true: CI must never pass by skipping."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing service is a failure)")
    pytest.skip(reason)


def borghive_command() -> str:
    """:data:`BORGHIVE`, which must exist."""
    assert BORGHIVE.is_file(), f"borghive is not installed in {BORGHIVE.parent}"
    return str(BORGHIVE)


# -- the caller's environment -------------------------------------------------------------


@pytest.fixture
def console_width() -> int | None:
    """The width of borghive's console during a test; None leaves it alone. A test
    directory or module that renders tables overrides this fixture."""
    return None


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, console_width: int | None) -> None:
    """No ``BORGHIVE_*`` variable from the caller's environment may override a test's
    configuration; the console gets ``console_width`` columns where that is set."""
    for name in list(os.environ):
        if name.startswith("BORGHIVE_"):
            monkeypatch.delenv(name)
    if console_width is not None:
        from borghive.cli import render

        monkeypatch.setattr(render.console(), "width", console_width)


# -- directories and programs other users reach -------------------------------------------


def public_dir(prefix: str) -> Path:
    """A new root-owned 0755 directory under the temporary directory: other users (nobody,
    repository users, sshd) may enter and read it, only root may write. pytest's own
    ``tmp_path`` is private to root."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


def remove_tree(path: Path) -> None:
    """Remove ``path`` whatever the tests did to its modes."""
    for directory, _, _ in os.walk(path):
        os.chmod(directory, 0o700)  # root could anyway; lets rmtree descend everywhere
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def world_readable() -> Iterator[Path]:
    """A fresh :func:`public_dir`, removed after the test."""
    directory = public_dir("borghive-public-")
    try:
        yield directory
    finally:
        remove_tree(directory)


def needed_by_others() -> list[Path]:
    """What another user needs to run this interpreter and the installed borghive: the
    virtualenv, the installation it was made from, and borghive's package directory."""
    import borghive

    paths = (
        Path(sys.prefix),
        Path(sys.base_prefix),
        Path(sys.executable).parent,
        Path(os.path.realpath(sys.executable)).parent,
        Path(borghive.__file__).parent,
    )
    return sorted({Path(os.path.realpath(path)) for path in paths})


def closed_directories(paths: list[Path]) -> dict[Path, set[str]]:
    """The directories on the way to ``paths`` that others may not enter, each with its
    children on the way, outermost first."""
    closed: dict[Path, set[str]] = {}
    for path in paths:
        for directory in reversed(path.parents):
            if not directory.stat().st_mode & 0o001:
                closed.setdefault(directory, set()).add(path.relative_to(directory).parts[0])
    return dict(sorted(closed.items(), key=lambda item: len(item[0].parts)))


@functools.cache
def _staging() -> Path:
    """An empty directory, only ever a mount point inside private namespaces."""
    path = Path(tempfile.mkdtemp(prefix="borghive-expose-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@functools.cache
def expose_script() -> str:
    """Shell text that, run as root in a private mount namespace, lets every user reach
    :func:`needed_by_others`; empty when nothing is closed. Each closed directory gets a
    0755 tmpfs with its needed children bound back: the tmpfs is built on a staging
    directory and moved over the closed one, outermost first."""
    closed = closed_directories(needed_by_others())
    if not closed:
        return ""
    mount, mkdir = shutil.which("mount") or "/bin/mount", shutil.which("mkdir") or "/bin/mkdir"
    staging = shlex.quote(str(_staging()))
    lines = ["set -e"]
    for directory, children in closed.items():
        lines.append(f"{mount} -t tmpfs -o mode=0755 borghive-test-exposed {staging}")
        for child in sorted(children):
            source, target = shlex.quote(str(directory / child)), f"{staging}/{shlex.quote(child)}"
            lines.append(f"{mkdir} -m 0755 {target}")
            lines.append(f"{mount} --bind {source} {target}")
        lines.append(f"{mount} --move {staging} {shlex.quote(str(directory))}")
    return "\n".join(lines) + "\n"


def as_user(*setpriv_options: str) -> list[str]:
    """The command prefix that runs a program as another user (``setpriv`` with these
    options, e.g. :data:`NOBODY`) who can reach this interpreter, the virtualenv and
    borghive's code (see the module docstring). Same process: ``unshare`` and the shell
    exec, so the program keeps the pid, stdin and stdout the caller sees."""
    setpriv = ["/usr/bin/setpriv", *setpriv_options]
    script = expose_script()
    if not script:
        return setpriv
    return [
        "/usr/bin/unshare", "--mount", "--propagation", "private", "--",
        "/bin/sh", "-c", script + 'exec "$@"', "sh", *setpriv,
    ]  # fmt: skip
