"""What the maintenance alerts decide, apart from any I/O: ``check-failed`` (the
repository's last check failed) and ``lock-stuck`` (one session has held its lock longer
than maintenance.lock_alert_after), each told once, reminded at the owner's re-alert
interval until their alert expiration (counted from the episode's start), and followed by
a recovery notice (a later check passed; the lock is gone).

An episode is one ``alert_state`` row per repository, channel and kind. A check that fails
again continues the episode of the first failure; one that names other damage
(``alert_state.detail`` differs) is told at once. A lock taken at another time is another
episode. Plain data in (a :class:`Snapshot` whose ``troubles``, ``checks`` and
``lock_unknown`` :mod:`borghive.service.alerts.upkeep_snapshot` filled), plans out.
"""

from __future__ import annotations

import datetime as dt

from borghive.rules.channels import Message
from borghive.service.alerts.plan import ChannelRow, Plan, RepoRow, Snapshot, StateRow
from borghive.service.alerts.upkeep_messages import (
    CHECK_FAILED,
    LOCK_STUCK,
    RECOVERY_EVENTS,
    UPKEEP_KINDS,
    Trouble,
    check_failed_message,
    check_passed_message,
    lock_released_message,
    lock_stuck_message,
)


def _when(value: dt.datetime | None) -> str:
    return "never" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def _continues(kind: str, state: StateRow | None, trouble: Trouble) -> bool:
    """Whether ``trouble`` continues the episode ``state`` told of."""
    if state is None or state.recovering:
        return False
    if kind == CHECK_FAILED:
        return state.since <= trouble.since
    return state.since == trouble.since


def _alert(repo: RepoRow, trouble: Trouble, since: dt.datetime, now: dt.datetime) -> Message:
    expires = since + dt.timedelta(seconds=repo.expiration)
    episode = Trouble(
        trouble.kind, since, trouble.detail, trouble.check_detail, trouble.lock, trouble.limit
    )
    if trouble.kind == CHECK_FAILED:
        return check_failed_message(repo.facts, episode, now, repo.realert, expires)
    return lock_stuck_message(repo.facts, episode, now, repo.realert, expires)


def _alert_plans(snapshot: Snapshot) -> tuple[list[Plan], set[tuple[int, int, str]]]:
    now = snapshot.now
    plans: list[Plan] = []
    seen: set[tuple[int, int, str]] = set()
    for (repo_id, kind), trouble in sorted(snapshot.troubles.items()):
        repo = snapshot.repos.get(repo_id)
        if repo is None:
            continue
        message: Message | None = None
        for channel in snapshot.channels.get(repo.owner_id, []):
            key = (repo_id, channel.id, kind)
            seen.add(key)
            state = snapshot.states.get(key)
            same = _continues(kind, state, trouble)
            since = state.since if same and state is not None else trouble.since
            expires = since + dt.timedelta(seconds=repo.expiration)
            due = (
                not same
                or state is None
                or state.last_sent is None
                or (kind == CHECK_FAILED and state.detail != trouble.detail)
                or (now >= state.last_sent + dt.timedelta(seconds=repo.realert) and now < expires)
            )
            if not due:
                continue
            if message is None:
                message = _alert(repo, trouble, since, now)
            plans.append(
                Plan(
                    repo,
                    channel,
                    kind,
                    kind,
                    since,
                    0,
                    state if same else None,
                    None if state is None else state.id,
                    message,
                    f"{channel.shown}: {kind}: {trouble.detail}",
                    trouble.detail,
                )
            )
    return plans, seen


def _recovery(
    snapshot: Snapshot, kind: str, repo: RepoRow, channel: ChannelRow, state: StateRow
) -> Plan | None:
    """The recovery notice for ``state``, whose condition no longer holds; None when there
    is nothing to announce (the state is then dropped)."""
    now, facts = snapshot.now, repo.facts
    if kind == CHECK_FAILED:
        passed, ok = snapshot.checks.get(repo.id, (None, None))
        if not ok or passed is None or passed <= state.since:
            return None
        message = check_passed_message(facts, state.since, passed, now)
        detail = (
            f"{channel.shown}: check passed at {_when(passed)} (failed since {_when(state.since)})"
        )
    else:
        message = lock_released_message(facts, state.since, state.detail, now)
        detail = f"{channel.shown}: lock held since {_when(state.since)} released"
    return Plan(
        repo,
        channel,
        kind,
        RECOVERY_EVENTS[kind],
        state.since,
        0,
        state,
        state.id,
        message,
        detail,
        state.detail,
    )


def plan_upkeep(snapshot: Snapshot) -> tuple[list[Plan], list[int]]:
    """The maintenance alerts, reminders and recovery notices due now (one :class:`Plan`
    per message and channel), and the ids of their states to drop silently (nothing was
    said, the repository or channel is gone, or nothing recovered)."""
    plans, seen = _alert_plans(snapshot)
    dropped: list[int] = []
    channels = {c.id: c for owned in snapshot.channels.values() for c in owned}
    for key, state in sorted(snapshot.states.items()):
        repo_id, channel_id, kind = key
        if kind not in UPKEEP_KINDS or key in seen:
            continue
        if kind == LOCK_STUCK and repo_id in snapshot.lock_unknown:
            continue  # the lock could not be read: neither over nor still held, as far as known
        repo, channel = snapshot.repos.get(repo_id), channels.get(channel_id)
        if repo is None or channel is None or state.last_sent is None:
            dropped.append(state.id)
            continue
        plan = _recovery(snapshot, kind, repo, channel, state)
        if plan is None:
            dropped.append(state.id)
        else:
            plans.append(plan)
    return plans, dropped
