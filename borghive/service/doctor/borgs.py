"""Doctor's look at every configured borg: ``borg.path`` and each ``[borg.versions]``
entry exists, repository users may run it, and ``borg --version`` answers as a borg does,
in bounded time. Nothing is changed."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from borghive.config import Config
from borghive.service.doctor.findings import Check
from borghive.service.doctor.host import check_program

VERSION_TIMEOUT = 10.0
"""Seconds ``borg --version`` may take (it starts Python and loads borg's modules)."""

# What borg 1.x and 2.x print for --version: "borg 1.4.5", "borg 2.0.0b22".
_VERSION = re.compile(r"borg ([0-9]+\.[0-9]+\.[0-9]+[0-9a-z.+-]*)")


@dataclass(frozen=True)
class ConfiguredBorg:
    """One borg of the configuration: its name (``default`` for borg.path), the key that
    sets it and its path."""

    name: str
    key: str
    path: Path

    @property
    def check_name(self) -> str:
        """The finding's name: ``borg``, or ``borg NAME`` for a [borg.versions] entry."""
        return "borg" if self.name == "default" else f"borg {self.name}"


def configured_borgs(config: Config) -> list[ConfiguredBorg]:
    """``borg.path`` first, then ``[borg.versions]`` by name."""
    borgs = [ConfiguredBorg("default", "borg.path", config.borg.path)]
    for name in sorted(config.borg.versions):
        borgs.append(ConfiguredBorg(name, f"borg.versions.{name}", config.borg.versions[name]))
    return borgs


def borg_version(path: Path, timeout: float = VERSION_TIMEOUT) -> str:
    """The version ``PATH --version`` prints (``1.4.5``). Raises ValueError saying what
    went wrong: it cannot be started, it timed out, it failed, or its output is not a
    borg's."""
    try:
        done = subprocess.run(  # noqa: S603 - a configured, validated absolute path
            [str(path), "--version"],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            # Its own environment: no BORG_* of the admin's shell changes what it says.
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ValueError(f"--version did not answer within {timeout:g} s") from None
    except OSError as exc:
        raise ValueError(f"cannot be run: {exc.strerror}") from None
    output = done.stdout.strip()
    if done.returncode != 0:
        said = (done.stderr.strip() or output).splitlines()[-1:] or ["nothing"]
        raise ValueError(f"--version exited {done.returncode}: {said[0][:120]}")
    match = _VERSION.fullmatch(output)
    if match is None:
        raise ValueError(f"--version printed {output[:80]!r}, not 'borg X.Y.Z': is it borg?")
    return match.group(1)


def check_borg(borg: ConfiguredBorg, group: int, timeout: float = VERSION_TIMEOUT) -> Check:
    """One borg: a FAIL when it is missing, repository users cannot run it, or it does not
    answer ``--version`` as borg; else ok with its version."""
    name = borg.check_name
    usable = check_program(name, borg.key, borg.path, group, required=True)
    if usable.status != "ok":
        return usable
    try:
        version = borg_version(borg.path, timeout)
    except ValueError as exc:
        return Check(name, "FAIL", f"{borg.key} {borg.path}: {exc}")
    return Check(
        name, "ok", f"{borg.key} {borg.path}: borg {version}, executable by repository users"
    )
