"""Repositories: creation with a repository user and uidNumber, settings, deletion."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from peewee import IntegrityError

from borghive.config import Config
from borghive.errors import ConflictError, InvalidInputError, NotFoundError
from borghive.rules.accounts import AccountsBackend
from borghive.rules.layout import client_command, client_url, repository_path
from borghive.rules.names import check_name
from borghive.rules.quotas import check_quota
from borghive.rules.times import aware, utcnow
from borghive.service.hosts.identity import this_host
from borghive.service.pings.tokens import new_token
from borghive.service.repositories.allocation import allocate_uid, allocation_lock, new_repo_user
from borghive.service.repositories.borgs import chosen_borg
from borghive.service.repositories.intents import (
    account_change,
    account_spec,
    claim_intent,
    record_intent,
    resolve_pending,
)
from borghive.service.repositories.purge import check_purge, purge_home
from borghive.service.users.keys import find_key
from borghive.service.users.people import find_user
from borghive.store import write_transaction
from borghive.store.models import (
    REPOSITORY_MODES,
    Access,
    Repository,
    SshKey,
    User,
)


@dataclass(frozen=True)
class RepoInfo:
    """A repository as commands show it; ``being_purged``: a purge began and did not finish
    (the record stays, without logins, until it does)."""

    owner: str
    name: str
    repo_user: str
    uid_number: int
    mode: str
    quota: int | None
    alert_after: int | None
    last_access: dt.datetime | None
    last_update: dt.datetime | None
    created: dt.datetime
    path: str
    url: str
    key_count: int
    being_purged: bool = False
    borg_name: str | None = None  # None: borg.path; else a name in [borg.versions]


@dataclass(frozen=True)
class CreatedRepo:
    """A new repository and what its client runs first: ``client_command`` per its mode
    (``borg init``, or rsync for import and export; None when disabled); ``init_command``
    is the same line for a borg repository and None otherwise."""

    repository: RepoInfo
    init_command: str | None
    client_command: str | None


@dataclass(frozen=True)
class DeletedRepo:
    repository: RepoInfo
    purged: bool
    data_left: str | None


@dataclass(frozen=True)
class RepoChanges:
    """What ``repo set`` changes; None leaves a value as it is."""

    quota: int | None = None
    clear_quota: bool = False
    alert_after: int | None = None
    clear_alert_after: bool = False
    mode: str | None = None
    borg_name: str | None = None
    clear_borg: bool = False  # back to borg.path
    # Maintenance: seconds (0 never); clear_* puts back the [maintenance] default.
    compact_every: int | None = None
    clear_compact_every: bool = False
    check_every: int | None = None
    clear_check_every: bool = False
    compact_append_only: bool | None = None


def find_repository(reference: str) -> Repository:
    """A repository by ``OWNER/NAME`` or by its repository user name; raise NotFoundError."""
    if "/" in reference:
        owner, _, name = reference.partition("/")
        check_name(owner, "user")
        check_name(name, "repository")
        repo: Repository | None = (
            Repository.select(Repository, User)
            .join(User)
            .where((User.name == owner) & (Repository.name == name))
            .first()
        )
        shown = f"{owner}/{name}"
    else:
        check_name(reference, "repository user")
        repo = (
            Repository.select(Repository, User)
            .join(User)
            .where(Repository.repo_user == reference)
            .first()
        )
        shown = reference
    if repo is None:
        raise NotFoundError(f"repository {shown} not found", hint="see 'borghive repo list'")
    return repo


def split_reference(reference: str) -> tuple[str, str]:
    """``OWNER/NAME`` → (owner, name), both validated."""
    owner, slash, name = reference.partition("/")
    if not slash:
        raise InvalidInputError(f"invalid repository {reference[:70]!r}: expected OWNER/NAME")
    return check_name(owner, "user"), check_name(name, "repository")


def check_mode(mode: str) -> str:
    if mode not in REPOSITORY_MODES:
        raise InvalidInputError(
            f"invalid mode {mode[:30]!r}: expected one of {', '.join(REPOSITORY_MODES)}"
        )
    return mode


def repo_info(config: Config, repo: Repository, owner: str, key_count: int) -> RepoInfo:
    return RepoInfo(
        owner=owner,
        name=repo.name,
        repo_user=repo.repo_user,
        uid_number=repo.uid_number,
        mode=repo.mode,
        quota=repo.quota,
        alert_after=repo.alert_after,
        last_access=aware(repo.last_access),
        last_update=aware(repo.last_update),
        created=aware(repo.created),
        path=repository_path(config.repos.root, repo.repo_user, repo.name),
        url=client_url(config.repos.public_host, config.repos.ssh_port, repo.repo_user, repo.name),
        key_count=key_count,
        being_purged=repo.purge_started is not None,
        borg_name=repo.borg_name,
    )


def count_keys(repo: Repository) -> int:
    return int(Access.select().where(Access.repository == repo.id).count())


def _new_repository_checks(
    owner_name: str, name: str, grants: list[tuple[str, str]]
) -> tuple[User, dict[int, tuple[SshKey, str]]]:
    """The owner and the keys to grant (by key id) of a new repository; raise NotFoundError,
    InvalidInputError or ConflictError (the name is taken)."""
    owner = find_user(owner_name)
    granted: dict[int, tuple[SshKey, str]] = {}
    for key_reference, access_mode in grants:
        key = find_key(key_reference, owner=owner_name)
        if key.id in granted and granted[key.id][1] != access_mode:
            raise InvalidInputError(
                f"key {key_reference!r} given both as --key and --append-only-key"
            )
        granted[key.id] = (key, access_mode)
    if Repository.get_or_none((Repository.owner == owner) & (Repository.name == name)):
        raise ConflictError(f"repository {owner_name}/{name} already exists")
    return owner, granted


def create_repository(
    config: Config,
    accounts: AccountsBackend,
    reference: str,
    *,
    keys: list[str] | None = None,
    append_only_keys: list[str] | None = None,
    quota: int | None = None,
    alert_after: int | None = None,
    mode: str = "borg",
    borg_name: str | None = None,
) -> CreatedRepo:
    """Create ``OWNER/NAME`` with a new repository user and uidNumber, grant the keys, and
    provision the account. All-or-nothing across store and accounts backend: the name and
    uidNumber are reserved by an account intent committed first, and the repository, its
    grants and the removal of the intent commit together after the account was made.

    ``borg_name``: the ``[borg.versions]`` entry that serves it (None: borg.path).

    Raises InvalidInputError (a quota borg serve refuses too, an unknown borg name),
    NotFoundError (owner, key), ConflictError (name taken), and DirectoryUnavailableError
    (its hint says when the account change is left in doubt).
    """
    owner_name, name = split_reference(reference)
    check_mode(mode)
    if borg_name is not None:
        chosen_borg(config, borg_name)
    if quota is not None:
        check_quota(quota)
    grants = [(k, "full") for k in keys or []] + [
        (k, "append-only") for k in append_only_keys or []
    ]
    accounts.ready()
    resolve_pending(config, accounts)
    with write_transaction():
        allocation_lock()
        _new_repository_checks(owner_name, name, grants)
        repo_user = new_repo_user(config, accounts)
        uid_number = allocate_uid(config, accounts)
        record_intent(repo_user, uid_number, "create")
    with account_change(config, accounts, repo_user):
        try:
            with write_transaction():
                allocation_lock()
                claim_intent(repo_user)
                owner, granted = _new_repository_checks(owner_name, name, grants)
                repo = Repository.create(
                    owner=owner,
                    name=name,
                    repo_user=repo_user,
                    uid_number=uid_number,
                    mode=mode,
                    quota=quota,
                    alert_after=alert_after,
                    borg_name=borg_name,
                    ping_token=new_token(),
                    host=this_host(config),
                )
                for key, access_mode in granted.values():
                    Access.create(repository=repo, key=key, mode=access_mode)
                accounts.create(account_spec(config, repo, owner_name))
        except IntegrityError:
            raise ConflictError(
                f"repository {owner_name}/{name} already exists, or its repository user or "
                "uidNumber was taken at the same moment",
                hint="run the command again",
            ) from None
    info = repo_info(config, repo, owner_name, len(granted))
    first = client_command(
        info.mode, config.repos.public_host, config.repos.ssh_port, info.repo_user, info.name
    )
    return CreatedRepo(
        repository=info,
        init_command=first if info.mode == "borg" else None,
        client_command=first,
    )


def _apply(repo: Repository, changes: RepoChanges) -> bool:
    """Set the changed values on ``repo`` (not saved); whether the account's lock flips."""
    previous_mode = repo.mode
    if changes.quota is not None or changes.clear_quota:
        repo.quota = None if changes.clear_quota else changes.quota
    if changes.alert_after is not None or changes.clear_alert_after:
        repo.alert_after = None if changes.clear_alert_after else changes.alert_after
    if changes.mode is not None:
        repo.mode = changes.mode
    if changes.borg_name is not None or changes.clear_borg:
        repo.borg_name = None if changes.clear_borg else changes.borg_name
    if changes.compact_every is not None or changes.clear_compact_every:
        repo.compact_every = None if changes.clear_compact_every else changes.compact_every
    if changes.check_every is not None or changes.clear_check_every:
        repo.check_every = None if changes.clear_check_every else changes.check_every
    if changes.compact_append_only is not None:
        repo.compact_append_only = changes.compact_append_only
    return previous_mode != repo.mode and "disabled" in (previous_mode, repo.mode)


def _not_being_purged(repo: Repository) -> Repository:
    if repo.purge_started is not None:
        raise ConflictError(
            f"repository {repo.owner.name}/{repo.name} is being purged",
            hint=f"finish it with 'borghive repo delete {repo.owner.name}/{repo.name} --purge'",
        )
    return repo


def set_repository(
    config: Config, accounts: AccountsBackend, reference: str, changes: RepoChanges
) -> RepoInfo:
    """Change quota, alert period, mode or borg (UnknownBorgError for a name
    ``[borg.versions]`` lacks; the next login uses the new borg). Disabling locks the
    account, enabling unlocks it, under an account intent: if the store commit fails, the
    account is put back as the store says; if the directory does not answer, the next
    command resolves it."""
    if changes.mode is not None:
        check_mode(changes.mode)
    if changes.borg_name is not None:
        chosen_borg(config, changes.borg_name)
    if changes.quota is not None and not changes.clear_quota:
        check_quota(changes.quota)
    resolve_pending(config, accounts)
    with write_transaction():
        repo = _not_being_purged(find_repository(reference))
        if not _apply(repo, changes):
            repo.save()
            return repo_info(config, repo, repo.owner.name, count_keys(repo))
    accounts.ready()
    with write_transaction():
        record_intent(
            repo.repo_user, repo.uid_number, "lock" if repo.mode == "disabled" else "unlock"
        )
    with account_change(config, accounts, repo.repo_user), write_transaction():
        claim_intent(repo.repo_user)
        repo = _not_being_purged(find_repository(reference))
        flips = _apply(repo, changes)
        repo.save()
        if flips and repo.mode == "disabled":
            accounts.lock(repo.repo_user)
        elif flips:
            accounts.unlock(repo.repo_user)
    return repo_info(config, repo, repo.owner.name, count_keys(repo))


def delete_repository(
    config: Config, accounts: AccountsBackend, reference: str, *, purge: bool = False
) -> DeletedRepo:
    """Remove the record and the account. Data on disk stays unless ``purge``.

    The caller confirms a purge with the admin before calling. The account goes under an
    account intent (see ``set_repository``). With ``purge`` the tree is checked first
    (RefusedError: not under the root, another filesystem, a file that is not a directory,
    regular file or symbolic link), then the record is marked as being purged (no logins)
    as the account goes, then the data go, then the record; a purge that fails (one-line
    BorghiveError) is finished by calling this again.
    """
    resolve_pending(config, accounts)
    repo = find_repository(reference)
    info = repo_info(config, repo, repo.owner.name, count_keys(repo))
    path = Path(info.path)
    if purge:  # refuse before anything is deleted
        check_purge(config, path)
    if repo.purge_started is None:
        accounts.ready()
        with write_transaction():
            record_intent(repo.repo_user, repo.uid_number, "delete")
        with account_change(config, accounts, repo.repo_user), write_transaction():
            claim_intent(repo.repo_user)
            repo = find_repository(reference)
            if purge:
                repo.purge_started = utcnow()
                repo.save()
            else:
                repo.delete_instance(recursive=False)
            accounts.delete(repo.repo_user)
    if not purge:
        if repo.purge_started is not None:  # a purge left half-done: the record goes
            with write_transaction():
                Repository.delete().where(Repository.id == repo.id).execute()
        return DeletedRepo(info, purged=False, data_left=str(path) if path.exists() else None)
    purge_home(config, path)
    with write_transaction():
        Repository.delete().where(Repository.id == repo.id).execute()
    return DeletedRepo(info, purged=True, data_left=None)
