"""What alerting decides, apart from any I/O: the conditions that hold, which messages are
due through which channel, which states to forget, and what ``alert list`` shows. Plain
data in (a :class:`Snapshot` that :mod:`borghive.service.alerts.snapshot` loads), plain
data out, so every rule is testable without a store, a clock or a channel.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from borghive.rules.channels import Message, describe_channel
from borghive.rules.quantities import format_duration, format_size
from borghive.service.alerts import client_plan
from borghive.service.alerts.client import CLIENT_KINDS, ClientFacts
from borghive.service.alerts.deletion_messages import (
    DELETION,
    DELETION_ACKNOWLEDGED,
    DeletionTrouble,
)
from borghive.service.alerts.messages import (
    RepoFacts,
    quota_message,
    recovered_message,
    stale_message,
)
from borghive.service.alerts.upkeep_messages import RECOVERY_EVENTS, UPKEEP_KINDS, Trouble


@dataclass
class RepoRow:
    id: int
    owner_id: int
    realert: int
    expiration: int
    facts: RepoFacts
    client: ClientFacts | None = None  # None: the repository has no client reports


@dataclass
class StateRow:
    id: int
    since: dt.datetime
    level: int
    last_sent: dt.datetime | None
    sent_count: int
    recovering: bool
    failures: int
    detail: str = ""  # alert_state.detail: what the alert was about (the maintenance kinds)


@dataclass(frozen=True)
class ChannelRow:
    id: int
    owner_id: int
    kind: str
    target: str

    @property
    def shown(self) -> str:
        return describe_channel(self.kind, self.target)


Condition = tuple[RepoRow, str, dt.datetime, int]  # repository, kind, since, level
# The kinds whose end is told (a recovery notice); a quota warning is dropped quietly.
RECOVERING_KINDS = ("stale", *CLIENT_KINDS)
# The kinds planned in modules of their own (upkeep.py, deletion.py), not here.
PLANNED_ELSEWHERE = (*UPKEEP_KINDS, DELETION)


@dataclass
class Snapshot:
    now: dt.datetime
    repos: dict[int, RepoRow]
    channels: dict[int, list[ChannelRow]]  # by owner id
    states: dict[tuple[int, int, str], StateRow]  # (repository, channel, kind)
    conditions: list[Condition] = field(default_factory=list)
    # The maintenance kinds (service/alerts/upkeep.py): each condition's facts by
    # (repository, kind); each repository's last check (time, passed); the repositories
    # whose lock could not be read this time (their lock-stuck states are kept as they are).
    troubles: dict[tuple[int, str], Trouble] = field(default_factory=dict)
    checks: dict[int, tuple[dt.datetime | None, bool | None]] = field(default_factory=dict)
    lock_unknown: set[int] = field(default_factory=set)
    run_timeout: int = 6 * 3600  # pings.run_timeout in seconds
    # The deletion kind (service/alerts/deletion.py): unacknowledged deletions by repository.
    deletions: dict[int, DeletionTrouble] = field(default_factory=dict)


@dataclass(frozen=True)
class Firing:
    """An alert condition that holds now."""

    owner: str
    repository: str
    kind: str  # stale, quota, check-failed, lock-stuck, client-failed, client-timeout
    since: dt.datetime
    level: int  # quota: the percentage reached (warn level or 100); else 0
    last_update: dt.datetime | None
    alert_after: int | None
    bytes_used: int | None
    quota: int | None
    channels: int
    notified: dt.datetime | None
    detail: str | None = None  # check-failed: the damage; lock-stuck: who holds the lock


@dataclass
class Plan:
    repo: RepoRow
    channel: ChannelRow
    kind: str  # alert_state.kind
    event: str  # "alert", "quota", "recovered"
    since: dt.datetime
    level: int
    state: StateRow | None  # the same episode's state, when there is one
    state_id: int | None  # the row to update, whatever its episode
    message: Message
    detail: str
    state_detail: str = ""  # kept in alert_state.detail

    @property
    def recovery(self) -> bool:
        """Whether this is the notice that an alert's condition is over."""
        return (
            self.event in ("recovered", DELETION_ACKNOWLEDGED)
            or self.event in RECOVERY_EVENTS.values()
        )


def conditions(snapshot: Snapshot, warn_percent: int) -> list[Condition]:
    """The alert conditions that hold at ``snapshot.now``: (repository, kind, since when,
    level). Stale: the last update (or creation) is older than the alert period; with
    client reports, or the last success (:mod:`.client`). Quota: the latest measured usage
    reached ``warn_percent`` (level: that) or the quota (level 100). The client kinds:
    :func:`.client.client_conditions` with ``snapshot.run_timeout``."""
    now = snapshot.now
    found: list[Condition] = []
    for repo in snapshot.repos.values():
        facts = repo.facts
        if repo.client is not None:
            client = repo.client
            found.extend(
                (repo, kind, since, 0)
                for kind, since in client_plan.found(repo, client, now, snapshot.run_timeout)
            )
        elif facts.alert_after is not None and now - facts.since >= dt.timedelta(
            seconds=facts.alert_after
        ):
            found.append((repo, "stale", facts.since, 0))
        if facts.quota is not None and facts.bytes_used is not None and facts.measured:
            level = quota_level(facts.bytes_used, facts.quota, warn_percent)
            if level:
                found.append((repo, "quota", facts.measured, level))
    return found


def quota_level(used: int, quota: int, warn: int) -> int:
    if used >= quota:
        return 100
    return warn if used * 100 >= quota * warn else 0


def plan_deliveries(snapshot: Snapshot) -> tuple[list[Plan], list[int], int]:
    """What to send now (one :class:`Plan` per message and channel), which state rows to
    drop silently, and how many firing conditions have nobody to tell."""
    now, states = snapshot.now, dict(snapshot.states)
    plans: list[Plan] = []
    unnotified = 0
    messages: dict[tuple[int, str], Message] = {}
    for repo, kind, since, level in snapshot.conditions:
        channels = snapshot.channels.get(repo.owner_id, [])
        if not channels:
            unnotified += 1
        if kind in PLANNED_ELSEWHERE:
            continue  # planned by service/alerts/upkeep.py and deletion.py
        facts = repo.facts
        for channel in channels:
            state = states.pop((repo.id, channel.id, kind), None)
            if _by_reports(repo, kind):
                client_due = (
                    None
                    if repo.client is None  # (a client kind holds only with reports)
                    else client_plan.due(
                        repo,
                        repo.client,
                        channel.shown,
                        kind,
                        since,
                        state,
                        now,
                        messages,
                        snapshot.run_timeout,
                    )
                )
                if client_due is not None:
                    same = state is not None and state.since == since and not state.recovering
                    event, client_message, detail = client_due
                    state_id = None if state is None else state.id
                    plans.append(
                        Plan(
                            repo,
                            channel,
                            kind,
                            event,
                            since,
                            0,
                            state if same else None,
                            state_id,
                            client_message,
                            detail,
                        )
                    )
                continue
            if kind == "stale":
                same = state is not None and state.since == since and not state.recovering
                expires = facts.since + dt.timedelta(seconds=repo.expiration)
                due = (
                    not same
                    or state is None
                    or state.last_sent is None
                    or (
                        now >= state.last_sent + dt.timedelta(seconds=repo.realert)
                        and now < expires
                    )
                )
                if not due:
                    continue
                message = messages.get((repo.id, kind))
                if message is None:
                    message = stale_message(facts, now, repo.realert, expires)
                    messages[(repo.id, kind)] = message
                detail = (
                    f"{channel.shown}: no backup since {_when(since)} "
                    f"(alert after {format_duration(facts.alert_after)})"
                )
                event = "alert"
            else:
                same = state is not None  # dropped once usage falls below
                if state is not None and state.level >= level:
                    continue
                message = messages.get((repo.id, kind))
                if message is None:
                    message = quota_message(facts, level, now)
                    messages[(repo.id, kind)] = message
                detail = (
                    f"{channel.shown}: quota {level}% reached ({format_size(facts.bytes_used)} "
                    f"of {format_size(facts.quota)})"
                )
                event = "quota"
            plans.append(
                Plan(
                    repo,
                    channel,
                    kind,
                    event,
                    since,
                    level,
                    state if same else None,
                    None if state is None else state.id,
                    message,
                    detail,
                )
            )
    dropped: list[int] = []
    channels_by_id = {c.id: c for owned in snapshot.channels.values() for c in owned}
    for (repo_id, channel_id, kind), state in states.items():
        if kind in PLANNED_ELSEWHERE:
            continue  # service/alerts/upkeep.py and deletion.py decide
        owner_repo, owner_channel = snapshot.repos.get(repo_id), channels_by_id.get(channel_id)
        if (
            kind not in RECOVERING_KINDS
            or owner_repo is None
            or owner_channel is None
            or state.last_sent is None
            or (not _by_reports(owner_repo, kind) and owner_repo.facts.since <= state.since)
        ):
            dropped.append(state.id)  # nothing was said, or nothing resumed: forget quietly
            continue
        repo, channel = owner_repo, owner_channel
        if _by_reports(repo, kind):
            recovery = client_plan.recovery(repo, channel.shown, kind, state.since, now)
            if recovery is None:
                dropped.append(state.id)  # it stopped holding without resuming
            else:
                event, message, detail = recovery
                plans.append(
                    Plan(
                        repo, channel, kind, event, state.since, 0, state, state.id, message, detail
                    )
                )
            continue
        plans.append(
            Plan(
                repo,
                channel,
                kind,
                "recovered",
                state.since,
                0,
                state,
                state.id,
                recovered_message(repo.facts, state.since, now),
                f"{channel.shown}: backups resumed (last update "
                f"{_when(repo.facts.last_update)}, none since {_when(state.since)} before)",
            )
        )
    return plans, dropped, unnotified


def _by_reports(repo: RepoRow, kind: str) -> bool:
    """Whether :mod:`.client_plan` decides about ``kind`` for ``repo``: the client kinds,
    and stale where the repository has client reports."""
    return kind in CLIENT_KINDS or (kind == "stale" and repo.client is not None)


def _when(value: dt.datetime | None) -> str:
    return "never" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def firing(snapshot: Snapshot) -> list[Firing]:
    """Every condition of ``snapshot`` as a :class:`Firing`, by owner and repository, with
    when its owner was last told (None: not yet, or nobody to tell)."""
    result: list[Firing] = []
    for repo, kind, since, level in snapshot.conditions:
        channels = snapshot.channels.get(repo.owner_id, [])
        told = [
            state.last_sent
            for channel in channels
            if (state := snapshot.states.get((repo.id, channel.id, kind))) is not None
            and state.last_sent is not None
            and _same_episode(kind, state, since)
        ]
        facts = repo.facts
        trouble = snapshot.troubles.get((repo.id, kind))
        deletion = snapshot.deletions.get(repo.id) if kind == DELETION else None
        result.append(
            Firing(
                owner=facts.owner,
                repository=facts.reference,
                kind=kind,
                since=since,
                level=level,
                last_update=facts.last_update,
                alert_after=facts.alert_after,
                bytes_used=facts.bytes_used,
                quota=facts.quota,
                channels=len(channels),
                notified=max(told, default=None),
                detail=(
                    deletion.detail
                    if deletion is not None
                    else None
                    if trouble is None
                    else trouble.detail
                ),
            )
        )
    return sorted(result, key=lambda f: (f.owner, f.repository, f.kind))


def _same_episode(kind: str, state: StateRow, since: dt.datetime) -> bool:
    """Whether ``state`` told of the condition that holds since ``since``: stale and the
    client kinds by its exact start, quota by any level, the maintenance kinds by a start
    no later (a check that fails again continues the episode of the first failure)."""
    if kind == "quota":
        return state.level > 0
    return state.since <= since if kind in PLANNED_ELSEWHERE else state.since == since
