"""Reconciling the store's repositories with the accounts backend (``repo sync``)."""

from __future__ import annotations

from dataclasses import dataclass

from borghive.config import Config
from borghive.rules.accounts import AccountsBackend, AccountSpec, account_problems
from borghive.service.repositories.lifecycle import account_spec
from borghive.store.models import Repository, User


@dataclass(frozen=True)
class SyncItem:
    """One account that differs: ``action`` is create, repair, orphan or delete."""

    name: str
    action: str
    detail: str
    done: bool


@dataclass(frozen=True)
class SyncReport:
    backend: str
    checked: int
    items: tuple[SyncItem, ...]
    dry_run: bool

    @property
    def in_step(self) -> bool:
        return not self.items


def expected_accounts(config: Config) -> dict[str, AccountSpec]:
    """The account every repository in the store needs, by repository user name."""
    query = Repository.select(Repository, User).join(User)
    return {repo.repo_user: account_spec(config, repo, repo.owner.name) for repo in query}


def sync_accounts(
    config: Config, accounts: AccountsBackend, *, dry_run: bool = False, prune: bool = False
) -> SyncReport:
    """Create missing accounts, repair drifted ones, list orphans (delete them with
    ``prune``). With ``dry_run`` nothing changes; the report says what would.

    Orphans are only accounts the backend knows as borghive's own (see
    ``AccountsBackend.list_accounts``); other accounts in the directory are never touched.
    """
    expected = expected_accounts(config)
    if accounts.name == "none":  # nothing outside the store to reconcile with
        return SyncReport(accounts.name, len(expected), (), dry_run)
    actual = accounts.list_accounts()
    items: list[SyncItem] = []
    for name in sorted(expected):
        want = expected[name]
        # An account whose gecos was changed is not listed as borghive's; it still exists.
        have = actual[name] if name in actual else accounts.get(name)
        if have is None:
            if not dry_run:
                accounts.create(want)
            items.append(SyncItem(name, "create", want.gecos, not dry_run))
            continue
        problems = account_problems(want, have)
        if problems:
            if not dry_run:
                accounts.update(want)
            items.append(SyncItem(name, "repair", "; ".join(problems), not dry_run))
    for name in sorted(set(actual) - set(expected)):
        if prune:
            if not dry_run:
                accounts.delete(name)
            items.append(SyncItem(name, "delete", actual[name].gecos, not dry_run))
        else:
            items.append(SyncItem(name, "orphan", actual[name].gecos, False))
    return SyncReport(accounts.name, len(expected), tuple(items), dry_run)
