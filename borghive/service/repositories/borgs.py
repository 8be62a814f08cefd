"""Which borg serves a repository: ``borg.path``, or a name in ``[borg.versions]``.

Every caller outside the login path (maintenance commands, doctor, the commands that set
a repository's borg) asks here; the login path reads the same table from its copy of the
configuration (borghive.login.lines).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from borghive.config import Config
from borghive.errors import ConfigError, InvalidInputError

DEFAULT_BORG = "default"
"""What ``repo set --borg`` takes for "borg.path again" (a stored name of None)."""


class UnknownBorgError(InvalidInputError):
    """A borg name that ``[borg.versions]`` does not have."""


def borg_binary(config: Config, borg_name: str | None) -> Path:
    """The borg binary for a repository's stored ``borg_name``: ``borg.path`` for None,
    else the path ``[borg.versions]`` gives the name. Raises ConfigError (exit 78) naming
    the name when the configuration no longer has it: serving or maintaining the
    repository with another borg than the one it was set to would be a guess."""
    if borg_name is None:
        return config.borg.path
    path = config.borg.versions.get(borg_name)
    if path is None:
        raise ConfigError(
            f"borg {borg_name!r}: not in [borg.versions] of {config.source} "
            f"(known: {known_borgs(config)})",
            hint=f"add it there, or 'borghive repo set REPOSITORY --borg {DEFAULT_BORG}'",
        )
    return path


@dataclass(frozen=True)
class BorgInUse:
    """The borg a repository is set to: ``name`` is ``default`` (borg.path) or its
    ``[borg.versions]`` name; ``path`` is None when the configuration lacks that name
    (logins to the repository then fail)."""

    name: str
    path: str | None


def borg_in_use(config: Config, borg_name: str | None) -> BorgInUse:
    """The name and binary of the borg a repository's stored ``borg_name`` selects."""
    try:
        path: str | None = str(borg_binary(config, borg_name))
    except ConfigError:
        path = None
    return BorgInUse(DEFAULT_BORG if borg_name is None else borg_name, path)


def known_borgs(config: Config) -> str:
    """The names ``--borg`` takes, in words: ``default`` and each of ``[borg.versions]``."""
    return ", ".join([DEFAULT_BORG, *sorted(config.borg.versions)])


def chosen_borg(config: Config, text: str) -> str | None:
    """The ``borg_name`` to store for ``--borg TEXT``: None for ``default`` (borg.path),
    else TEXT when ``[borg.versions]`` names it. Raises UnknownBorgError naming the known
    names otherwise."""
    if text == DEFAULT_BORG:
        return None
    if text not in config.borg.versions:
        raise UnknownBorgError(
            f"unknown borg {text[:40]!r}: expected one of {known_borgs(config)} "
            "(names come from [borg.versions])"
        )
    return text
