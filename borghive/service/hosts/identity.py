"""Which storage host this is, and whether a repository lives here: defined once.

A host's name is its ``repos.host`` (this machine's host name when that is empty), the
name other hosts and the store know it by (``storage_host.name``, ``repository.host``).
Commands that touch a repository's files (watch, stats, maintenance, rollback, sessions)
act only on the repositories of this host; admin commands that only change the store work
from any host.
"""

from __future__ import annotations

from peewee import Expression

from borghive.config import Config
from borghive.errors import ConflictError
from borghive.store.models import Repository


def this_host(config: Config) -> str:
    """The name of the storage host this configuration belongs to."""
    return config.repos.public_host


def is_local(config: Config, repo: Repository) -> bool:
    """Whether ``repo`` lives on this host."""
    return bool(repo.host == this_host(config))


def local_condition(config: Config) -> Expression:
    """The peewee condition selecting the repositories of this host."""
    return Repository.host == this_host(config)


def require_local(config: Config, repo: Repository, action: str) -> None:
    """Raise ConflictError unless ``repo`` lives on this host: ``action`` (e.g. "compact")
    needs its files. The message names the host it lives on."""
    if is_local(config, repo):
        return
    raise ConflictError(
        f"repository {repo.repo_user} lives on storage host {repo.host}, not on this host "
        f"({this_host(config)}): cannot {action} it here",
        hint=f"run the command on {repo.host}",
    )
