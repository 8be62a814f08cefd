"""Account intents: an account change is recorded in the store, and committed, before the
accounts backend is written; the intent is removed in the same transaction as the store
change it belongs to.

So an intent that is left says that the store change did not commit (or that nobody
knows whether the directory applied its write) and that the account may differ from what
the store says. Resolution reads the account back and makes it what the store says:
created, repaired or removed. That completes a change whose store half committed and
undoes one whose store half did not. Every command that touches accounts resolves what
is pending first, and ``repo sync`` does too; the login path gives no lines for a
repository with an intent left.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from borghive.config import Config
from borghive.errors import BorghiveError, ConflictError, DirectoryUnavailableError
from borghive.rules.accounts import (
    GECOS_PREFIX,
    AccountsBackend,
    AccountSpec,
    account_problems,
)
from borghive.rules.layout import home_path
from borghive.rules.times import utcnow
from borghive.store import is_sqlite, store_errors, write_transaction
from borghive.store.models import AccountIntent, Repository, User

SYNC_HINT = "run 'borghive repo sync' when the directory answers again"
# How long a command may take from recording its intent to committing its change. Until
# then (or until it gives up) other commands leave the intent alone; ``repo sync`` does not.
IN_PROGRESS = 300.0


@dataclass(frozen=True)
class Resolution:
    """What resolving one intent did: ``action`` is the change that was in doubt."""

    name: str
    action: str
    outcome: str


def account_spec(config: Config, repo: Repository, owner: str) -> AccountSpec:
    """The account a repository's user must have."""
    return AccountSpec(
        name=repo.repo_user,
        uid_number=repo.uid_number,
        gid_number=config.repos.gid,
        home=Path(home_path(config.repos.root, repo.repo_user)),
        shell=config.accounts.shell,
        gecos=f"{GECOS_PREFIX}{owner}/{repo.name}",
        locked=repo.mode == "disabled",
    )


def wanted_account(config: Config, repo_user: str) -> AccountSpec | None:
    """The account the store says ``repo_user`` must have; None when it must have none
    (no repository, or one being purged)."""
    repo = (
        Repository.select(Repository, User)
        .join(User)
        .where(Repository.repo_user == repo_user)
        .first()
    )
    if repo is None or repo.purge_started is not None:
        return None
    return account_spec(config, repo, repo.owner.name)


def record_intent(repo_user: str, uid_number: int, action: str) -> None:
    """Record (inside the caller's transaction, which must commit before the backend is
    written) that ``repo_user``'s account is about to change."""
    AccountIntent.create(repo_user=repo_user, uid_number=uid_number, action=action)


def claim_intent(repo_user: str) -> None:
    """Remove the intent inside the transaction of the store change, so both commit
    together. On PostgreSQL the row stays locked until then, so a resolution started
    meanwhile waits. ConflictError when another command resolved it in between."""
    if AccountIntent.delete().where(AccountIntent.repo_user == repo_user).execute() != 1:
        raise ConflictError(
            f"the account change of {repo_user} was resolved by another command meanwhile",
            hint="run the command again",
        )


def pending_intents(*, settled_only: bool = False) -> list[AccountIntent]:
    """The intents left, oldest first; with ``settled_only`` not those of a command that
    may still be running (neither given up nor older than IN_PROGRESS)."""
    query = AccountIntent.select().order_by(AccountIntent.id)
    if settled_only:
        old = utcnow() - dt.timedelta(seconds=IN_PROGRESS)
        query = query.where(AccountIntent.given_up.is_null(False) | (AccountIntent.started < old))
    return list(query)


def give_up(repo_user: str) -> None:
    """Mark ``repo_user``'s intent as given up by its command, so that the next command
    resolves it; when the store cannot be written either, it is resolved once old."""
    with suppress(BorghiveError), store_errors(), write_transaction():
        AccountIntent.update(given_up=utcnow()).where(
            AccountIntent.repo_user == repo_user
        ).execute()


def converge(config: Config, accounts: AccountsBackend, repo_user: str) -> str:
    """Read ``repo_user``'s account back and make it what the store says; say what was
    done. An account of that name that borghive did not make is never changed."""
    wanted = wanted_account(config, repo_user)
    have = accounts.get(repo_user)
    if wanted is None:
        if have is not None and not have.gecos.startswith(GECOS_PREFIX):
            return "left alone: not an account borghive made"
        # Also when there is no entry: a membership may be left without one.
        accounts.delete(repo_user)
        return "removed the account" if have is not None else "no account"
    if have is None:
        accounts.create(wanted)
        return "created the account"
    problems = account_problems(wanted, have)
    if problems:
        accounts.update(wanted)
        return "repaired: " + "; ".join(problems)
    return "in step"


def resolve_intent(config: Config, accounts: AccountsBackend, repo_user: str) -> Resolution | None:
    """Resolve ``repo_user``'s intent, if one is left: converge, then remove it in one
    transaction (the intent stays when anything fails). None when there was none."""
    with write_transaction():
        query = AccountIntent.select().where(AccountIntent.repo_user == repo_user)
        intent = (query if is_sqlite() else query.for_update()).first()
        if intent is None:
            return None
        outcome = converge(config, accounts, repo_user)
        intent.delete_instance()
    return Resolution(repo_user, intent.action, outcome)


def resolve_pending(
    config: Config, accounts: AccountsBackend, *, settled_only: bool = True
) -> list[Resolution]:
    """Resolve the intents left, one transaction each: by default those no command is
    still working on (see :func:`pending_intents`); with ``settled_only=False`` every one
    (``repo sync``: a command between recording its intent and making its change then
    fails with "run the command again", nothing worse). A failure (the directory still
    down) keeps that intent and the ones after it, and names ``borghive repo sync``."""
    resolved: list[Resolution] = []
    for intent in pending_intents(settled_only=settled_only):
        try:
            with store_errors():
                done = resolve_intent(config, accounts, intent.repo_user)
        except BorghiveError as error:
            error.hint = error.hint or (
                f"an earlier change of account {intent.repo_user} is in doubt; {SYNC_HINT}"
            )
            raise
        if done is not None:
            resolved.append(done)
    return resolved


def _add_hint(error: BorghiveError, hint: str) -> None:
    error.hint = f"{error.hint}; {hint}" if error.hint else hint


@contextmanager
def account_change(config: Config, accounts: AccountsBackend, repo_user: str) -> Iterator[None]:
    """Around the transaction that makes a recorded change (store and backend together).

    When the directory did not answer, the change is in doubt: it may still be applied
    when the directory resumes, so it is not undone now; the intent stays for the next
    command and the error says so. Any other failure leaves the backend's state known:
    the intent is resolved at once (the backend is put back as the store says). When that
    fails too, the original error is raised, with a hint naming ``borghive repo sync``.
    Driver errors of the store come out as StoreUnavailableError.
    """
    try:
        with store_errors():
            yield
    except DirectoryUnavailableError as error:
        give_up(repo_user)
        _add_hint(error, f"the change of account {repo_user} is in doubt; {SYNC_HINT}")
        raise
    except BorghiveError as error:
        try:
            with store_errors():
                resolve_intent(config, accounts, repo_user)
        except BorghiveError as undo:
            give_up(repo_user)
            _add_hint(
                error,
                f"putting account {repo_user} back failed too ({undo.message}); {SYNC_HINT}",
            )
        raise
    except BaseException:
        # Not an error of the store or the backend (e.g. an interrupt): the intent stays,
        # given up, if this cannot resolve it.
        try:
            with store_errors():
                resolve_intent(config, accounts, repo_user)
        except BorghiveError:
            give_up(repo_user)
        raise
