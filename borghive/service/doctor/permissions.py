"""Who may read, write or search a path: file modes and a user's uid and groups.

Used by ``doctor`` to predict what sshd and the AuthorizedKeysCommand user will be allowed
to do, without setuid. POSIX ACLs are not evaluated.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path

# Permission bits of one class (owner, group or other): read, write, search/execute.
READ, WRITE, SEARCH = 4, 2, 1


@dataclass(frozen=True)
class Identity:
    """Who accesses a file: a uid (-1 for "some user of these groups") and its groups."""

    name: str
    uid: int
    groups: frozenset[int]


def identity(name: str) -> Identity | None:
    """The uid and every group (primary and supplementary, through NSS) of user ``name``."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return Identity(name, entry.pw_uid, frozenset(os.getgrouplist(name, entry.pw_gid)))


def may(info: os.stat_result, who: Identity, bit: int) -> bool:
    """Whether ``who`` has ``bit`` (4 read, 2 write, 1 execute/search) by the mode bits.

    Like the kernel, only one class counts: owner, else group, else others.
    """
    if who.uid == 0:
        return bit != SEARCH or stat.S_ISDIR(info.st_mode) or bool(info.st_mode & 0o111)
    if info.st_uid == who.uid:
        shift = 6
    elif info.st_gid in who.groups:
        shift = 3
    else:
        shift = 0
    return bool((info.st_mode >> shift) & bit)


def describe_mode(info: os.stat_result) -> str:
    """``mode 0755, owner root:root``."""
    owner = f"{user_name(info.st_uid)}:{group_name(info.st_gid)}"
    return f"mode {stat.S_IMODE(info.st_mode):04o}, owner {owner}"


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def writable_by(mode: int) -> str | None:
    if mode & 0o022 == 0o022:
        return "group- and world-writable"
    if mode & 0o002:
        return "world-writable"
    if mode & 0o020:
        return "group-writable"
    return None


def directories_to(path: Path) -> list[Path]:
    """Every directory the kernel passes to reach ``path``: the ancestors of the path as
    written and, when symlinks are involved, those of the real path too (no duplicates)."""
    result: list[Path] = []
    for form in (path, path.resolve()):
        for directory in reversed(form.parents):
            if directory not in result:
                result.append(directory)
    return result


def stat_or_none(path: Path) -> os.stat_result | None:
    """``path.stat()``, None when it does not exist; other errors (no permission) raise."""
    try:
        return path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
