"""The accounts interface: the system accounts of repository users.

A backend creates, updates, locks, unlocks, deletes, reads and lists the POSIX accounts
that sshd resolves. The types live here, apart from ``service/``, so that the adapters
(``borghive/ldap/``, ``borghive/local/``) can implement them without importing the
service layer. ``none`` records nothing outside the store.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Protocol

# The gecos of every account borghive makes starts with this; other accounts are never
# listed as borghive's, so ``repo sync --prune`` cannot touch them.
GECOS_PREFIX = "borghive "


def days_since_epoch(today: dt.date | None = None) -> int:
    """Today (or ``today``) as a shadow(5) day number."""
    return ((today or dt.datetime.now(dt.UTC).date()) - dt.date(1970, 1, 1)).days


@dataclass(frozen=True)
class AccountSpec:
    """A repository user's account: what it must be, or what a backend found.

    ``in_group`` says whether the account is a member of the repository users' group
    (always true where that is the primary group only).
    """

    name: str
    uid_number: int
    gid_number: int
    home: Path
    shell: str
    gecos: str
    locked: bool = False
    in_group: bool = True


@dataclass(frozen=True)
class AccountState:
    """What the backend found for a repository user; ``problems`` lists drifted attributes."""

    exists: bool
    problems: tuple[str, ...] = ()

    @property
    def matches(self) -> bool:
        return self.exists and not self.problems


def account_problems(expected: AccountSpec, actual: AccountSpec | None) -> tuple[str, ...]:
    """The differences between the account a repository needs and the one that exists."""
    if actual is None:
        return ("missing",)
    problems = []
    for item in fields(AccountSpec):
        want, have = getattr(expected, item.name), getattr(actual, item.name)
        if want != have:
            problems.append(f"{item.name} is {have!s}, expected {want!s}")
    return tuple(problems)


def account_state(expected: AccountSpec, actual: AccountSpec | None) -> AccountState:
    """AccountState from the expected and the found account."""
    if actual is None:
        return AccountState(exists=False, problems=("missing",))
    return AccountState(exists=True, problems=account_problems(expected, actual))


class AccountsBackend(Protocol):
    """Provisioning of repository users' accounts. Methods raise BorghiveError subclasses:
    DirectoryUnavailableError when the backend cannot be reached."""

    name: str

    def ready(self) -> None:
        """Reach the backend now (connect), so that one that is down fails before anything
        is recorded; DirectoryUnavailableError if it cannot be reached."""

    def create(self, spec: AccountSpec) -> None:
        """Create the account (and its group membership); ConflictError if it exists.
        Steps in an order whose every intermediate state the service's resolution (read
        back, then create, update or delete) repairs."""

    def update(self, spec: AccountSpec) -> None:
        """Make an existing account match ``spec``; NotFoundError if there is none."""

    def lock(self, name: str) -> None:
        """Refuse logins (the account stays); NotFoundError if there is no account."""

    def unlock(self, name: str) -> None:
        """Allow logins again; NotFoundError if there is no account."""

    def delete(self, name: str) -> None:
        """Remove the account; a missing one is not an error."""

    def get(self, name: str) -> AccountSpec | None:
        """The account as it is, or None. Backends that do not know return None."""

    def list_accounts(self) -> dict[str, AccountSpec]:
        """Every repository user account this backend manages, by name."""

    def list_members(self) -> set[str]:
        """Every name in the repository users' group, whether an account has it or not."""

    def uid_in_use(self, uid_number: int) -> bool:
        """Whether any account (borghive's or not) holds this uidNumber."""

    def name_in_use(self, name: str) -> bool:
        """Whether any account (borghive's or not) has this name."""

    def close(self) -> None:
        """Release connections; never raises (a connection that broke is just dropped)."""


class NoAccounts:
    """``accounts.backend = "none"``: the store is the only record; nothing is provisioned."""

    name = "none"

    def ready(self) -> None:
        return None

    def create(self, spec: AccountSpec) -> None:
        return None

    def update(self, spec: AccountSpec) -> None:
        return None

    def lock(self, name: str) -> None:
        return None

    def unlock(self, name: str) -> None:
        return None

    def delete(self, name: str) -> None:
        return None

    def get(self, name: str) -> AccountSpec | None:
        return None

    def list_accounts(self) -> dict[str, AccountSpec]:
        return {}

    def list_members(self) -> set[str]:
        return set()

    def uid_in_use(self, uid_number: int) -> bool:
        return False

    def name_in_use(self, name: str) -> bool:
        return False

    def close(self) -> None:
        return None
