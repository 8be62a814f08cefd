"""Repositories: creation with a repository user and uidNumber, settings, deletion."""

from __future__ import annotations

import datetime as dt
import secrets
import shutil
import string
from dataclasses import dataclass
from pathlib import Path

from peewee import IntegrityError, fn

from borghive.config import Config
from borghive.errors import ConflictError, InvalidInputError, NotFoundError, RefusedError
from borghive.rules.accounts import (
    GECOS_PREFIX,
    AccountsBackend,
    AccountSpec,
)
from borghive.rules.layout import client_command, client_url, home_path, repository_path
from borghive.rules.names import check_name
from borghive.rules.quotas import check_quota
from borghive.rules.times import aware
from borghive.service.users.keys import find_key
from borghive.service.users.people import find_user
from borghive.store import execute, is_sqlite, rows, write_transaction
from borghive.store.models import (
    REPOSITORY_MODES,
    Access,
    Repository,
    SshKey,
    User,
)

_USER_ALPHABET = string.ascii_lowercase + string.digits
_ALLOCATION_LOCK = 0x626F7267  # "borg": PostgreSQL advisory lock for uid allocation


@dataclass(frozen=True)
class RepoInfo:
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
    )


def count_keys(repo: Repository) -> int:
    return int(Access.select().where(Access.repository == repo.id).count())


def _new_repo_user(config: Config, accounts: AccountsBackend) -> str:
    """A random, POSIX-valid repository user name free in the store and in the backend."""
    prefix = config.repos.user_prefix
    for _ in range(100):
        suffix = "".join(
            secrets.choice(_USER_ALPHABET) for _ in range(config.repos.user_length - len(prefix))
        )
        candidate = prefix + suffix
        taken = Repository.select().where(Repository.repo_user == candidate).exists()
        if not taken and not accounts.name_in_use(candidate):
            return candidate
    raise ConflictError("could not find a free repository user name; widen repos.user_length")


def _allocate_uid(config: Config, accounts: AccountsBackend) -> int:
    """The next free uidNumber in the configured range.

    Called inside the create transaction, which holds the store's write lock (SQLite) or an
    advisory lock (PostgreSQL), so concurrent creates never pick the same number. Numbers
    the accounts backend reports in use elsewhere are skipped.
    """
    low, high = config.repos.uid_min, config.repos.uid_max
    in_range = (Repository.uid_number >= low) & (Repository.uid_number <= high)
    highest = Repository.select(fn.MAX(Repository.uid_number)).where(in_range).scalar()
    candidate = low if highest is None else int(highest) + 1
    used: set[int] | None = None
    while True:
        if candidate > high:
            if used is None:  # the top of the range is taken: look for gaps below
                used = {
                    uid for (uid,) in rows(Repository.select(Repository.uid_number).where(in_range))
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
) -> CreatedRepo:
    """Create ``OWNER/NAME`` with a new repository user and uidNumber, grant the keys, and
    provision the account. All-or-nothing across store and accounts backend.

    Raises InvalidInputError (a quota borg serve refuses too), NotFoundError (owner, key)
    or ConflictError (name taken).
    """
    owner_name, name = split_reference(reference)
    check_mode(mode)
    if quota is not None:
        check_quota(quota)
    grants = [(k, "full") for k in keys or []] + [
        (k, "append-only") for k in append_only_keys or []
    ]
    account_made: str | None = None
    try:
        with write_transaction():
            if not is_sqlite():
                execute("SELECT pg_advisory_xact_lock(%s)", (_ALLOCATION_LOCK,))
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
            repo = Repository.create(
                owner=owner,
                name=name,
                repo_user=_new_repo_user(config, accounts),
                uid_number=_allocate_uid(config, accounts),
                mode=mode,
                quota=quota,
                alert_after=alert_after,
            )
            for key, access_mode in granted.values():
                Access.create(repository=repo, key=key, mode=access_mode)
            accounts.create(account_spec(config, repo, owner_name))
            account_made = repo.repo_user
    except IntegrityError:
        _undo_account(accounts, account_made)
        raise ConflictError(
            f"repository {owner_name}/{name} already exists, or its repository user or "
            "uidNumber was taken at the same moment",
            hint="run the command again",
        ) from None
    except BaseException:
        _undo_account(accounts, account_made)
        raise
    info = repo_info(config, repo, owner_name, len(granted))
    first = client_command(
        info.mode, config.repos.public_host, config.repos.ssh_port, info.repo_user, info.name
    )
    return CreatedRepo(
        repository=info,
        init_command=first if info.mode == "borg" else None,
        client_command=first,
    )


def _undo_account(accounts: AccountsBackend, name: str | None) -> None:
    """Remove an account whose store row did not commit."""
    if name is not None:
        accounts.delete(name)


def set_repository(
    config: Config, accounts: AccountsBackend, reference: str, changes: RepoChanges
) -> RepoInfo:
    """Change quota, alert period or mode. Disabling locks the account, enabling unlocks it;
    if the store commit then fails, the account is put back as it was."""
    if changes.mode is not None:
        check_mode(changes.mode)
    if changes.quota is not None and not changes.clear_quota:
        check_quota(changes.quota)
    locked_now: bool | None = None
    try:
        with write_transaction():
            repo = find_repository(reference)
            owner = repo.owner.name
            previous_mode = repo.mode
            if changes.quota is not None or changes.clear_quota:
                repo.quota = None if changes.clear_quota else changes.quota
            if changes.alert_after is not None or changes.clear_alert_after:
                repo.alert_after = None if changes.clear_alert_after else changes.alert_after
            if changes.mode is not None:
                repo.mode = changes.mode
            repo.save()
            if previous_mode != repo.mode and "disabled" in (previous_mode, repo.mode):
                if repo.mode == "disabled":
                    accounts.lock(repo.repo_user)
                    locked_now = True
                else:
                    accounts.unlock(repo.repo_user)
                    locked_now = False
    except BaseException:
        if locked_now is True:
            accounts.unlock(repo.repo_user)
        elif locked_now is False:
            accounts.lock(repo.repo_user)
        raise
    return repo_info(config, repo, owner, count_keys(repo))


def delete_repository(
    config: Config, accounts: AccountsBackend, reference: str, *, purge: bool = False
) -> DeletedRepo:
    """Remove the record and the account. Data on disk stays unless ``purge``.

    The caller confirms a purge with the admin before calling. All-or-nothing across store
    and accounts: if the store commit fails after the account was deleted, it is re-created.
    """
    account_deleted: AccountSpec | None = None
    try:
        with write_transaction():
            repo = find_repository(reference)
            owner = repo.owner.name
            info = repo_info(config, repo, owner, count_keys(repo))
            if purge:  # refuse before anything is deleted, not after the commit
                _check_purge(config, Path(info.path))
            spec = account_spec(config, repo, owner)
            repo.delete_instance(recursive=False)
            accounts.delete(repo.repo_user)
            account_deleted = spec
    except BaseException:
        if account_deleted is not None:
            accounts.create(account_deleted)
        raise
    path = Path(info.path)
    if not purge:
        return DeletedRepo(info, purged=False, data_left=str(path) if path.exists() else None)
    _purge(config, path)
    return DeletedRepo(info, purged=True, data_left=None)


def _check_purge(config: Config, path: Path) -> None:
    """Raise RefusedError unless the home of ``path`` resolves directly under the root."""
    home = path.parent
    root = config.repos.root.resolve()
    if home.resolve().parent != root:
        raise RefusedError(f"refusing to purge {home}: it is not directly under {root}")


def _purge(config: Config, path: Path) -> None:
    """Delete a repository's directory and its user's home, staying inside the repos root."""
    _check_purge(config, path)
    home = path.parent
    if home.is_symlink():
        home.unlink()
    elif home.exists():
        shutil.rmtree(home)
