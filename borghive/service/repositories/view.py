"""Reading repositories: the listing and one repository with its keys, events, last
statistic and account state."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from peewee import fn

from borghive.config import Config
from borghive.rules.accounts import AccountsBackend, AccountState, account_state
from borghive.rules.layout import repository_path
from borghive.rules.times import aware, stored_time
from borghive.service.hosts.urls import addresses
from borghive.service.reports.listing import ReportInfo, SessionInfo, last_report, last_session
from borghive.service.repositories.borgs import BorgInUse, borg_in_use
from borghive.service.repositories.grants import AccessInfo
from borghive.service.repositories.intents import account_spec
from borghive.service.repositories.lifecycle import (
    RepoInfo,
    find_repository,
    repo_info,
)
from borghive.service.users.people import find_user
from borghive.store import raw_rows, rows
from borghive.store.models import Access, BorgSession, Event, Repository, SshKey, User
from borghive.store.queries import latest_statistics


@dataclass(frozen=True)
class EventInfo:
    kind: str
    time: dt.datetime
    detail: str


@dataclass(frozen=True)
class StatisticInfo:
    time: dt.datetime
    bytes_used: int
    file_count: int


@dataclass(frozen=True)
class RepoDetail:
    repository: RepoInfo
    accesses: tuple[AccessInfo, ...]
    events: tuple[EventInfo, ...]
    last_statistic: StatisticInfo | None
    account: AccountState | None
    accounts_backend: str
    borg: BorgInUse | None = None
    # What the client last said (borghive pings) and the last session the server saw.
    last_report: ReportInfo | None = None
    last_session: SessionInfo | None = None
    # An open move to another storage host, in words (repo move --status has the rest).
    open_move: str | None = None


def list_repositories(config: Config, owner: str | None = None) -> list[RepoInfo]:
    """Every repository, or one owner's, by owner and name."""
    counts: dict[int, int] = dict(
        rows(Access.select(Access.repository, fn.COUNT(Access.id)).group_by(Access.repository))
    )
    query = (
        Repository.select(
            User.name,
            Repository.name,
            Repository.repo_user,
            Repository.uid_number,
            Repository.mode,
            Repository.quota,
            Repository.alert_after,
            Repository.last_access,
            Repository.last_update,
            Repository.created,
            Repository.id,
            Repository.purge_started,
            Repository.borg_name,
            Repository.host,
        )
        .join(User)
        .order_by(User.name, Repository.name)
    )
    if owner is not None:
        query = query.where(User.id == find_user(owner).id)
    # Plain driver rows and f-strings: model objects, Path joins and peewee's value
    # conversion made this 5x slower on 10,000 repositories (benchmarks/bench_foundation.py).
    root = str(config.repos.root)
    url = addresses(config).url
    return [
        RepoInfo(
            owner=owner_name,
            name=name,
            repo_user=user,
            uid_number=uid,
            mode=mode,
            quota=quota,
            alert_after=alert_after,
            last_access=stored_time(last_access),
            last_update=stored_time(last_update),
            created=stored_time(created),
            path=repository_path(root, user, name),
            url=url(user, name, host),
            key_count=counts.get(repo_id, 0),
            being_purged=purge_started is not None,
            borg_name=borg_name,
            host=host,
        )
        for (
            owner_name,
            name,
            user,
            uid,
            mode,
            quota,
            alert_after,
            last_access,
            last_update,
            created,
            repo_id,
            purge_started,
            borg_name,
            host,
        ) in raw_rows(query)
    ]


def _last_use(repo_id: int, key_id: int) -> tuple[dt.datetime | None, str | None]:
    """When ``key_id`` last opened a session with ``repo_id``, and from where."""
    last = (
        BorgSession.select(BorgSession.started, BorgSession.source)
        .where((BorgSession.repository == repo_id) & (BorgSession.key == key_id))
        .order_by(BorgSession.started.desc())
        .first()
    )
    return (None, None) if last is None else (aware(last.started), last.source)


def show_repository(
    config: Config, accounts: AccountsBackend, reference: str, *, events: int = 10
) -> RepoDetail:
    """A repository with its keys, recent events, last statistic, account state, last
    client report and last session."""
    repo = find_repository(reference)
    owner = repo.owner.name
    accesses = tuple(
        AccessInfo(
            f"{key_owner}/{key_name}", fingerprint, mode, allowed_from, *_last_use(repo.id, key_id)
        )
        for key_id, key_owner, key_name, fingerprint, mode, allowed_from in rows(
            Access.select(
                SshKey.id,
                User.name,
                SshKey.name,
                SshKey.fingerprint,
                Access.mode,
                fn.COALESCE(Access.allowed_from, SshKey.allowed_from),
            )
            .join(SshKey)
            .join(User)
            .where(Access.repository == repo.id)
            .order_by(User.name, SshKey.name)
        )
    )
    recent = tuple(
        EventInfo(e.kind, aware(e.time), e.detail)
        for e in Event.select()
        .where(Event.repository == repo.id)
        .order_by(Event.time.desc(), Event.id.desc())
        .limit(events)
    )
    statistic = latest_statistics([repo.id]).get(repo.id)
    last = (
        StatisticInfo(statistic.time, statistic.bytes_used, statistic.file_count)
        if statistic
        else None
    )
    return RepoDetail(
        repository=repo_info(config, repo, owner, len(accesses)),
        accesses=accesses,
        events=recent,
        last_statistic=last,
        account=(
            None
            if accounts.name == "none"
            else account_state(account_spec(config, repo, owner), accounts.get(repo.repo_user))
        ),
        accounts_backend=accounts.name,
        borg=borg_in_use(config, repo.borg_name),
        last_report=last_report(repo.id),
        last_session=last_session(repo.id),
        open_move=_open_move(repo),
    )


def _open_move(repo: Repository) -> str | None:
    """The repository's open move in words, or None."""
    from borghive.service.moves.records import open_move

    move = open_move(repo)
    if move is None:
        return None
    if move.step == "switched":
        return (
            f"switched from {move.source_host} to {move.target_host}; the source copy on "
            f"{move.source_host} is kept until repo move --finish"
        )
    return (
        f"to {move.target_host}, interrupted or running at step {move.step} (logins are "
        "disabled until it completes: run repo move again, or --abort)"
    )
