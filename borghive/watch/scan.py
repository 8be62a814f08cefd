"""Reading the repos tree: which directories to watch, and the times the store records.

``<repos root>/<repository user>/<repository name>``: homes and repository directories are
the non-hidden subdirectories at the first and second level (names of repository users
and repositories start with a letter or digit, so ``.ssh``, ``.cache`` … are skipped).
A directory that vanishes while it is read counts as absent, never as an error.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from borghive.rules.times import from_epoch
from borghive.service.events.records import RepoKey, RepoTimes
from borghive.watch.classify import index_number


@dataclass(frozen=True)
class Listing:
    """A repository directory's entries and its times."""

    names: frozenset[str]
    times: RepoTimes


def is_candidate(name: str) -> bool:
    """Whether a directory entry may be a home or a repository (not hidden)."""
    return bool(name) and not name.startswith(".")


def subdirectories(path: Path) -> list[str]:
    """Names of the non-hidden subdirectories of ``path`` (not following symlinks);
    empty when ``path`` is gone or unreadable."""
    try:
        with os.scandir(path) as entries:
            return sorted(
                entry.name
                for entry in entries
                if is_candidate(entry.name) and entry.is_dir(follow_symlinks=False)
            )
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []


def list_repository(path: Path) -> Listing | None:
    """The entries of a repository directory with its mtime (last access) and the newest
    ``index.N`` mtime (last update); None when the directory is gone."""
    try:
        directory_mtime = os.stat(path, follow_symlinks=False).st_mtime
        names: list[str] = []
        newest: float | None = None
        with os.scandir(path) as entries:
            for entry in entries:
                names.append(entry.name)
                if index_number(entry.name) is not None:
                    try:
                        mtime = entry.stat(follow_symlinks=False).st_mtime
                    except FileNotFoundError:  # replaced by the next commit meanwhile
                        continue
                    newest = mtime if newest is None else max(newest, mtime)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return None
    return Listing(
        frozenset(names),
        RepoTimes(from_epoch(directory_mtime), None if newest is None else from_epoch(newest)),
    )


def scan_tree(
    root: Path, watch: Callable[[Path, int], bool] | None = None
) -> Iterator[tuple[RepoKey, Listing]]:
    """Every repository directory under ``root`` with its listing.

    ``watch(path, depth)`` is called for each directory before it is read (depth 0 root,
    1 home, 2 repository), so that nothing created after the read is missed; when it
    returns False the directory is skipped (it vanished meanwhile).
    """
    if watch is not None and not watch(root, 0):
        return
    for user in subdirectories(root):
        home = root / user
        if watch is not None and not watch(home, 1):
            continue
        for name in subdirectories(home):
            path = home / name
            if watch is not None and not watch(path, 2):
                continue
            listing = list_repository(path)
            if listing is not None:
                yield RepoKey(user, name), listing
