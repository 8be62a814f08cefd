"""Reconciling the store's repositories with the accounts backend (``repo sync``)."""

from __future__ import annotations

import string
from dataclasses import dataclass

from borghive.config import Config
from borghive.rules.accounts import AccountsBackend, AccountSpec, account_problems
from borghive.service.repositories.intents import account_spec, pending_intents, resolve_pending
from borghive.store import rows
from borghive.store.models import Repository, User


@dataclass(frozen=True)
class SyncItem:
    """One account that differs: ``action`` is resolve (a change left in doubt), create,
    repair, orphan, delete or unlink (a group membership without an account)."""

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
    """The account every repository in the store needs, by repository user name (none for
    a repository being purged)."""
    query = Repository.select(Repository, User).join(User).where(Repository.purge_started.is_null())
    return {repo.repo_user: account_spec(config, repo, repo.owner.name) for repo in query}


def _could_be_ours(config: Config, name: str) -> bool:
    """Whether ``name`` has the form of the repository user names borghive makes."""
    prefix = config.repos.user_prefix
    return (
        len(name) == config.repos.user_length
        and name.startswith(prefix)
        and (set(name[len(prefix) :]) <= set(string.ascii_lowercase + string.digits))
    )


def sync_accounts(
    config: Config, accounts: AccountsBackend, *, dry_run: bool = False, prune: bool = False
) -> SyncReport:
    """Resolve account changes left in doubt, create missing accounts, repair drifted
    ones, remove the accounts of repositories being purged and memberships without an
    account, list orphans (delete them with ``prune``). With ``dry_run`` nothing changes;
    the report says what would.

    Orphans are only accounts the backend knows as borghive's (see
    ``AccountsBackend.list_accounts``), and memberships only names of the form borghive
    gives repository users; other accounts in the directory are never touched.
    """
    items: list[SyncItem] = []
    if dry_run:
        items += [
            SyncItem(
                i.repo_user,
                "resolve",
                f"{i.action} in doubt (or under way) since {i.started}",
                False,
            )
            for i in pending_intents()
        ]
    else:
        items += [
            SyncItem(r.name, "resolve", f"{r.action} in doubt: {r.outcome}", True)
            for r in resolve_pending(config, accounts, settled_only=False)
        ]
    expected = expected_accounts(config)
    if accounts.name == "none":  # nothing outside the store to reconcile with
        return SyncReport(accounts.name, len(expected), tuple(items), dry_run)
    in_doubt = {item.name for item in items}
    actual = accounts.list_accounts()
    for name in sorted(set(expected) - in_doubt):
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
    purging = {
        repo_user
        for (repo_user,) in rows(
            Repository.select(Repository.repo_user).where(Repository.purge_started.is_null(False))
        )
    }
    for name in sorted(set(actual) - set(expected) - in_doubt):
        if name in purging or prune:
            if not dry_run:
                accounts.delete(name)
            detail = "its repository is being purged" if name in purging else actual[name].gecos
            items.append(SyncItem(name, "delete", detail, not dry_run))
        else:
            items.append(SyncItem(name, "orphan", actual[name].gecos, False))
    dangling = accounts.list_members() - set(actual) - set(expected) - in_doubt
    for name in sorted(dangling):
        if _could_be_ours(config, name) and not accounts.name_in_use(name):
            if not dry_run:
                accounts.delete(name)  # no entry: this removes the membership only
            items.append(SyncItem(name, "unlink", "a membership without an account", not dry_run))
    return SyncReport(accounts.name, len(expected), tuple(items), dry_run)
