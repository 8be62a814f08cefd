"""The accounts interface: system accounts for repository users.

A backend creates, updates, locks, unlocks, deletes, reads and lists the POSIX accounts
that sshd resolves. ``none`` records nothing outside the store (the admin manages accounts
elsewhere); ``ldap`` and ``local`` are provided by their own modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from borghive.config import Config
from borghive.errors import ConfigError


@dataclass(frozen=True)
class AccountSpec:
    """What a repository user's account must look like."""

    name: str
    uid_number: int
    gid_number: int
    home: Path
    shell: str
    gecos: str
    locked: bool = False


@dataclass(frozen=True)
class AccountState:
    """What the backend found for a repository user; ``problems`` lists drifted attributes."""

    exists: bool
    problems: tuple[str, ...] = ()

    @property
    def matches(self) -> bool:
        return self.exists and not self.problems


class AccountsBackend(Protocol):
    """Provisioning of repository users' accounts. Methods raise BorghiveError subclasses."""

    name: str

    def create(self, spec: AccountSpec) -> None: ...
    def update(self, spec: AccountSpec) -> None: ...
    def lock(self, name: str) -> None: ...
    def unlock(self, name: str) -> None: ...
    def delete(self, name: str) -> None: ...
    def get(self, spec: AccountSpec) -> AccountState | None: ...
    def list_names(self) -> list[str]: ...
    def uid_in_use(self, uid_number: int) -> bool: ...
    def name_in_use(self, name: str) -> bool: ...


class NoAccounts:
    """``accounts.backend = "none"``: the store is the only record; nothing is provisioned."""

    name = "none"

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

    def get(self, spec: AccountSpec) -> AccountState | None:
        """None: this backend does not know about accounts."""
        return None

    def list_names(self) -> list[str]:
        return []

    def uid_in_use(self, uid_number: int) -> bool:
        return False

    def name_in_use(self, name: str) -> bool:
        return False


def accounts_backend(config: Config) -> AccountsBackend:
    """The backend selected by ``accounts.backend``."""
    if config.accounts.backend == "none":
        return NoAccounts()
    raise ConfigError(
        f"accounts.backend: {config.accounts.backend!r} is not available in this version",
        hint='set accounts.backend = "none" and manage repository users\' accounts yourself',
    )
