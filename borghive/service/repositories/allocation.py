"""Allocating a new repository's user name and uidNumber: free in the store (repositories
and the account intents that reserve names and numbers) and in the accounts backend, one
allocation at a time (SQLite's write lock, a PostgreSQL advisory lock)."""

from __future__ import annotations

import secrets
import string

from peewee import fn

from borghive.config import Config
from borghive.errors import ConflictError
from borghive.rules.accounts import AccountsBackend
from borghive.store import execute, is_sqlite, rows
from borghive.store.models import AccountIntent, Repository

_USER_ALPHABET = string.ascii_lowercase + string.digits
_ALLOCATION_LOCK = 0x626F7267  # "borg": PostgreSQL advisory lock for uid allocation


def allocation_lock() -> None:
    """Serialise uid and name allocation on PostgreSQL (SQLite's write lock does it)."""
    if not is_sqlite():
        execute("SELECT pg_advisory_xact_lock(%s)", (_ALLOCATION_LOCK,))


def new_repo_user(config: Config, accounts: AccountsBackend) -> str:
    """A random, POSIX-valid repository user name free in the store and in the backend."""
    prefix = config.repos.user_prefix
    for _ in range(100):
        suffix = "".join(
            secrets.choice(_USER_ALPHABET) for _ in range(config.repos.user_length - len(prefix))
        )
        candidate = prefix + suffix
        taken = (
            Repository.select().where(Repository.repo_user == candidate).exists()
            or AccountIntent.select().where(AccountIntent.repo_user == candidate).exists()
        )
        if not taken and not accounts.name_in_use(candidate):
            return candidate
    raise ConflictError("could not find a free repository user name; widen repos.user_length")


def allocate_uid(config: Config, accounts: AccountsBackend) -> int:
    """The next free uidNumber in the configured range.

    Called inside the create transaction, which holds the store's write lock (SQLite) or an
    advisory lock (PostgreSQL), so concurrent creates never pick the same number. Numbers
    the accounts backend reports in use elsewhere are skipped.
    """
    low, high = config.repos.uid_min, config.repos.uid_max
    # Numbers reserved by account intents (a create in progress or in doubt) are taken.
    tables = ((Repository, Repository.uid_number), (AccountIntent, AccountIntent.uid_number))
    highest_each = [
        model.select(fn.MAX(column)).where((column >= low) & (column <= high)).scalar()
        for model, column in tables
    ]
    highest = max((int(value) for value in highest_each if value is not None), default=None)
    candidate = low if highest is None else highest + 1
    used: set[int] | None = None
    while True:
        if candidate > high:
            if used is None:  # the top of the range is taken: look for gaps below
                used = {
                    uid
                    for model, column in tables
                    for (uid,) in rows(
                        model.select(column).where((column >= low) & (column <= high))
                    )
                }
                candidate = low
            else:
                raise ConflictError(
                    f"no free uidNumber left in {low}..{high}",
                    hint="widen repos.uid_min/uid_max",
                )
        if (used is None or candidate not in used) and not accounts.uid_in_use(candidate):
            return candidate
        candidate += 1
