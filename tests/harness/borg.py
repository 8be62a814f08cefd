"""The real borg client: running it, ``du`` to compare allocated sizes with, apparent size
by its definition, and repositories made by it (a session template, copied for each test
that needs one)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

BORG = shutil.which("borg") or "/usr/bin/borg"
PASSPHRASE = "correct horse battery staple"


def borg(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``borg ARGS`` (exit 0 required). Without ``env``: the caller's environment without
    BORG*/BORGHIVE* variables, :data:`PASSPHRASE`, and borg's base directory in ``cwd``."""
    if env is None:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("BORG", "BORGHIVE"))},
            "BORG_PASSPHRASE": PASSPHRASE,
            "BORG_DELETE_I_KNOW_WHAT_I_AM_DOING": "YES",
            "BORG_BASE_DIR": str((cwd or Path.cwd()) / ".borg-base"),
        }
    result = subprocess.run(
        [BORG, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


def du(path: Path, *, prefix: tuple[str, ...] = ()) -> int:
    """``du -s -B1`` (following ``path`` itself if it is a symlink), as a number; du's own
    exit status is ignored: it is 1 after unreadable directories, with a partial total.

    Only allocated bytes: ``du --apparent-size`` changed meaning in coreutils 9.2
    (directories no longer counted), so apparent size is checked against
    :func:`apparent_size` instead.
    """
    command = [*prefix, "du", "-s", "-D", "-B1", str(path)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return int(done.stdout.split()[0])


def apparent_size(path: Path, *, skip: Callable[[Path], bool] = lambda _: False) -> int:
    """Apparent size by its definition, from ``os.lstat``: the ``st_size`` of every
    non-directory below ``path`` (symlinks by their own size, not followed), each inode
    once, directories (``path`` itself too) not counted. ``skip``: directories whose
    contents are left out (those a walker cannot read).
    """
    seen: set[tuple[int, int]] = set()
    total = 0
    for directory, subdirectories, names in os.walk(path):
        # os.walk lists a symlink to a directory with the directories (and does not enter
        # it): it is a file here.
        links = [n for n in subdirectories if Path(directory, n).is_symlink()]
        subdirectories[:] = [
            n for n in subdirectories if n not in links and not skip(Path(directory, n))
        ]
        for name in [*names, *links]:
            info = os.lstat(Path(directory, name))
            if (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                total += info.st_size
    return total


@pytest.fixture(scope="session")
def borg_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    if not Path(BORG).exists():
        pytest.fail(f"{BORG} not found (apt-get install borgbackup)")
    home = tmp_path_factory.mktemp("borg-home")
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "BORG_PASSPHRASE": "correct horse",
        "BORG_BASE_DIR": str(home),
        "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes",
    }


@pytest.fixture(scope="session")
def borg_template(tmp_path_factory: pytest.TempPathFactory, borg_env: dict[str, str]) -> Path:
    """A repokey repository after two creates, a prune and a compact (real borg 1.2)."""
    base = tmp_path_factory.mktemp("borg-template")
    source = base / "source"
    source.mkdir()
    (source / "random.bin").write_bytes(os.urandom(700_000))
    (source / "text.txt").write_text("hello\n" * 5000)
    repo = base / "repo"
    borg("init", "--encryption=repokey", str(repo), env=borg_env)
    borg("create", f"{repo}::one", str(source), env=borg_env)
    (source / "more.bin").write_bytes(os.urandom(300_000))
    borg("create", f"{repo}::two", str(source), env=borg_env)
    borg("prune", "--keep-last=1", str(repo), env=borg_env)
    borg("compact", str(repo), env=borg_env)
    return repo


@pytest.fixture
def make_borg_repo(borg_template: Path) -> Callable[[Path], Path]:
    """``make_borg_repo(path)``: a copy of the template repository at ``path``."""

    def make(path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(borg_template, path, symlinks=True)
        return path

    return make


# -- the second borg ---------------------------------------------------------------------

OTHER_BORG_CACHE = Path("/var/cache/borghive-test")
"""Where scripts/test (scripts/lib.sh: ensure_other_borg) builds the borg series Debian
does not ship on this release, one virtualenv per version and Python, each with a stamp
``borg VERSION`` written once it is complete."""


@dataclass(frozen=True)
class BorgBinary:
    """A borg program and the version it reports (``1.4.5``); ``series`` is ``1.4``."""

    path: Path
    version: str

    @property
    def series(self) -> str:
        return ".".join(self.version.split(".")[:2])


def borg_binary_of(path: Path) -> BorgBinary:
    """``path`` with the version its ``--version`` prints."""
    done = subprocess.run(
        [str(path), "--version"], capture_output=True, text=True, timeout=60, check=True
    )
    name, _, version = done.stdout.strip().partition(" ")
    assert name == "borg" and version, done.stdout
    return BorgBinary(path, version)


@pytest.fixture(scope="session")
def debian_borg() -> BorgBinary:
    """Debian's borg (borgbackup): 1.2 on Debian 12, 1.4 on Debian 13."""
    if not Path("/usr/bin/borg").exists():
        pytest.fail("/usr/bin/borg not found (apt-get install borgbackup)")
    return borg_binary_of(Path("/usr/bin/borg"))


@pytest.fixture(scope="session")
def other_borg(debian_borg: BorgBinary) -> BorgBinary:
    """The borg of the series Debian does not ship here (1.4 next to Debian 12's 1.2, 1.2
    next to Debian 13's 1.4), as scripts/test builds it. Fails, never skips, when it is
    missing: the tests of several borg versions must not pass by not running."""
    found = []
    for stamp in sorted(OTHER_BORG_CACHE.glob("borg-*/.borghive-stamp")):
        binary = stamp.parent / "bin" / "borg"
        if binary.is_file() and stamp.read_text().strip() != f"borg {debian_borg.version}":
            candidate = borg_binary_of(binary)
            if candidate.series != debian_borg.series:
                found.append(candidate)
    if not found:
        pytest.fail(
            f"no second borg (not {debian_borg.series}) in {OTHER_BORG_CACHE}: "
            "run 'bash scripts/test' once as root, which builds it"
        )
    return max(found, key=lambda b: [int(p) if p.isdigit() else 0 for p in b.version.split(".")])
