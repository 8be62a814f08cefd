"""scripts/lib.sh's second borg for the tests: which version goes next to Debian's, and a
complete virtualenv in the cache is used again without building (bash runs the real
functions; dpkg-query is a stub, so nothing on the host is asked or changed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[2] / "scripts" / "lib.sh"
BASH = shutil.which("bash") or "/bin/bash"

DPKG_QUERY = """#!/bin/bash
# -W -f=FORMAT PACKAGE: every package installed, borgbackup at $DEBIAN_BORG.
case "$2" in
    *Status*) echo "install ok installed" ;;
    *Version*) echo "$DEBIAN_BORG" ;;
esac
"""


def bash(script: str, **environment: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BASH, "-c", f'source "{LIB}"\n{script}'],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **environment},
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("debian", "series"), [("1.2.4-1", "1.4."), ("1.4.0-5", "1.2."), ("1.4.5-1", "1.2.")]
)
def test_the_other_series_is_built(debian: str, series: str) -> None:
    done = bash(f"other_borg_version {debian}")
    assert done.returncode == 0
    assert done.stdout.strip().startswith(series)
    assert done.stdout.strip() in bash("echo $OTHER_BORG_12 $OTHER_BORG_14").stdout.split()


@pytest.mark.parametrize("debian", ["2.0.0~b22-1", "1.1.18-1", ""])
def test_an_unknown_series_is_refused(debian: str) -> None:
    assert bash(f"other_borg_version '{debian}'").returncode == 1


def test_a_complete_virtualenv_is_used_again(tmp_path: Path) -> None:
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    (stubs / "dpkg-query").write_text(DPKG_QUERY)
    (stubs / "dpkg-query").chmod(0o755)
    version = bash("echo $OTHER_BORG_14").stdout.strip()
    python = subprocess.run(
        ["/usr/bin/python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    cached = tmp_path / "cache" / f"borg-{version}-py{python}"
    cached.mkdir(parents=True)
    (cached / ".borghive-stamp").write_text(f"borg {version}\n")

    done = bash(
        f'OTHER_BORG_CACHE="{tmp_path}/cache"; ensure_other_borg && echo reused',
        PATH=f"{stubs}:/usr/bin:/bin",
        DEBIAN_BORG="1.2.4-1",
    )

    assert (done.returncode, done.stdout) == (0, "reused\n"), done.stderr
    assert "building" not in done.stderr
    assert sorted(p.name for p in cached.iterdir()) == [".borghive-stamp"]  # nothing built
