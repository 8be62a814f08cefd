"""Helpers for service tests: a recording accounts backend and a store snapshot."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from borghive.errors import BorghiveError
from borghive.rules.accounts import AccountSpec
from borghive.store import rows
from borghive.store.models import (
    Access,
    AccountIntent,
    Event,
    Repository,
    SshKey,
    Statistic,
    User,
)


@dataclass
class FakeAccounts:
    """An ``AccountsBackend`` keeping accounts in memory and recording every call.

    ``uids_in_use`` and ``names_in_use`` are taken outside borghive; ``fail_create`` and
    ``fail_delete`` make those operations raise.
    """

    name: str = "fake"
    accounts: dict[str, AccountSpec] = field(default_factory=dict)
    locked: set[str] = field(default_factory=set)
    uids_in_use: set[int] = field(default_factory=set)
    names_in_use: set[str] = field(default_factory=set)
    fail_create: BorghiveError | None = None
    fail_delete: BorghiveError | None = None
    calls: list[tuple[str, str]] = field(default_factory=list)

    def ready(self) -> None:
        return None

    def list_members(self) -> set[str]:
        return set(self.accounts)

    def create(self, spec: AccountSpec) -> None:
        self.calls.append(("create", spec.name))
        if self.fail_create is not None:
            raise self.fail_create
        self.accounts[spec.name] = spec

    def update(self, spec: AccountSpec) -> None:
        self.calls.append(("update", spec.name))
        self.accounts[spec.name] = spec

    def lock(self, name: str) -> None:
        self.calls.append(("lock", name))
        self.locked.add(name)

    def unlock(self, name: str) -> None:
        self.calls.append(("unlock", name))
        self.locked.discard(name)

    def delete(self, name: str) -> None:
        self.calls.append(("delete", name))
        if self.fail_delete is not None:
            raise self.fail_delete
        self.accounts.pop(name, None)

    def get(self, name: str) -> AccountSpec | None:
        spec = self.accounts.get(name)
        if spec is None:
            return None
        return replace(spec, locked=spec.locked or name in self.locked)

    def list_accounts(self) -> dict[str, AccountSpec]:
        return {name: spec for name in self.accounts if (spec := self.get(name)) is not None}

    def close(self) -> None:
        self.calls.append(("close", ""))

    def uid_in_use(self, uid_number: int) -> bool:
        return uid_number in self.uids_in_use or any(
            spec.uid_number == uid_number for spec in self.accounts.values()
        )

    def name_in_use(self, name: str) -> bool:
        return name in self.names_in_use or name in self.accounts

    def methods_called(self) -> list[str]:
        return [method for method, _ in self.calls]


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the bound store, by table, in id order."""
    return {
        model._meta.table_name: rows(model.select().order_by(model.id))
        for model in (User, SshKey, Repository, Access, Event, Statistic, AccountIntent)
    }


def count(model: Any) -> int:
    """The number of rows in ``model``'s table."""
    return int(model.select().count())
