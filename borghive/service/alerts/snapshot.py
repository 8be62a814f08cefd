"""What ``alert check`` reads: candidate repositories with their latest size, every
channel and every alert state, loaded in a few plain queries (driver rows, no model
objects: 10,000 repositories are read in a fraction of a second)."""

from __future__ import annotations

import datetime as dt

from peewee import Expression

from borghive.config import Config
from borghive.rules.quantities import parse_duration
from borghive.rules.times import stored_time
from borghive.service.alerts.client_snapshot import (
    load_client_facts,
    reporting_query,
    reporting_repositories,
)
from borghive.service.alerts.messages import RepoFacts
from borghive.service.alerts.plan import ChannelRow, RepoRow, Snapshot, StateRow, conditions
from borghive.service.hosts.identity import local_condition
from borghive.service.hosts.urls import addresses
from borghive.store import raw_rows
from borghive.store.models import AlertState, NotifyChannel, Repository, User
from borghive.store.queries import latest_statistics


def repo_rows(config: Config, condition: Expression) -> dict[int, RepoRow]:
    """The repositories of this host matching ``condition`` with their owner's alert
    settings and latest size, by id. Each host alerts on its own repositories only (their
    disks, locks and sessions are its own; client reports too, so that one host speaks)."""
    url = addresses(config).url
    query = (
        Repository.select(
            Repository.id,
            Repository.owner,
            User.name,
            User.realert_interval,
            User.alert_expiration,
            Repository.name,
            Repository.repo_user,
            Repository.quota,
            Repository.alert_after,
            Repository.last_update,
            Repository.created,
            Repository.host,
        )
        .join(User)
        .where(condition & local_condition(config))
    )
    sizes = latest_statistics()
    repos: dict[int, RepoRow] = {}
    for row in raw_rows(query):
        repo_id, owner_id, owner, realert, expiration, name, user, quota, after, updated = row[:10]
        made, host = row[10:]
        latest = sizes.get(repo_id)
        facts = RepoFacts(
            owner=owner,
            name=name,
            url=url(user, name, host),
            created=stored_time(made),
            last_update=stored_time(updated),
            alert_after=after,
            quota=quota,
            bytes_used=None if latest is None else latest.bytes_used,
            measured=None if latest is None else latest.time,
        )
        repos[repo_id] = RepoRow(repo_id, owner_id, realert, expiration, facts)
    return repos


def load_snapshot(config: Config, now: dt.datetime) -> Snapshot:
    """Candidate repositories (alert period, quota or client reports; not disabled) with
    their latest size and client facts, every channel and every alert state, in a few
    plain queries."""
    reporting = reporting_repositories()
    candidate = Repository.alert_after.is_null(False) | Repository.quota.is_null(False)
    if reporting:  # a subquery, not a list: SQLite bounds the parameters of a statement
        candidate = candidate | Repository.id.in_(reporting_query())
    repos = repo_rows(config, candidate & (Repository.mode != "disabled"))
    for repo_id, client in load_client_facts(reporting & repos.keys()).items():
        repos[repo_id].client = client
    channels: dict[int, list[ChannelRow]] = {}
    for channel_id, owner_id, kind, target in raw_rows(
        NotifyChannel.select(
            NotifyChannel.id, NotifyChannel.owner, NotifyChannel.kind, NotifyChannel.target
        ).order_by(NotifyChannel.id)
    ):
        channels.setdefault(owner_id, []).append(ChannelRow(channel_id, owner_id, kind, target))
    state_query = AlertState.select(
        AlertState.id,
        AlertState.repository,
        AlertState.channel,
        AlertState.kind,
        AlertState.since,
        AlertState.level,
        AlertState.last_sent,
        AlertState.sent_count,
        AlertState.recovering,
        AlertState.failures,
        AlertState.detail,
    ).where(  # another host's states are its own to keep, send or drop
        AlertState.repository.in_(Repository.select(Repository.id).where(local_condition(config)))
    )
    states: dict[tuple[int, int, str], StateRow] = {}
    for row in raw_rows(state_query):
        state_id, repo_id, channel_id, kind, since, level, sent, count, recovering = row[:9]
        failures, detail = row[9:]
        states[(repo_id, channel_id, kind)] = StateRow(
            state_id,
            stored_time(since),
            level,
            stored_time(sent),
            count,
            bool(recovering),
            failures,
            detail or "",
        )
    snapshot = Snapshot(
        now, repos, channels, states, run_timeout=parse_duration(config.pings.run_timeout)
    )
    snapshot.conditions.extend(conditions(snapshot, config.alerts.quota_warn_percent))
    return snapshot
