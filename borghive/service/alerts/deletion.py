"""What the deletion alert decides, apart from any I/O: told once per episode, at once
again when another transaction joins it (``alert_state.detail`` names them), reminded at
the owner's re-alert interval until their alert expiration (counted from the first
deletion), and followed by a notice when nothing is left unacknowledged (``alert ack``, or
a rollback) within the alert expiration; after it, the state is dropped quietly, since
older deletions are not loaded. Plain data in (a :class:`Snapshot` whose ``deletions``
:mod:`borghive.service.alerts.deletion_snapshot` filled), plans out.
"""

from __future__ import annotations

import datetime as dt

from borghive.rules.channels import Message
from borghive.service.alerts.deletion_messages import (
    DELETION,
    DELETION_ACKNOWLEDGED,
    acknowledged_message,
    deletion_message,
)
from borghive.service.alerts.plan import Plan, Snapshot


def plan_deletion_alerts(snapshot: Snapshot) -> tuple[list[Plan], list[int]]:
    """The deletion alerts, reminders and acknowledgement notices due now, and the ids of
    deletion states to drop silently (nothing was said, or the repository or channel is
    gone)."""
    now = snapshot.now
    plans: list[Plan] = []
    seen: set[tuple[int, int, str]] = set()
    for repo_id, trouble in sorted(snapshot.deletions.items()):
        repo = snapshot.repos.get(repo_id)
        if repo is None:
            continue
        message: Message | None = None
        for channel in snapshot.channels.get(repo.owner_id, []):
            key = (repo_id, channel.id, DELETION)
            seen.add(key)
            state = snapshot.states.get(key)
            same = state is not None and not state.recovering and state.since <= trouble.since
            since = state.since if same and state is not None else trouble.since
            expires = since + dt.timedelta(seconds=repo.expiration)
            due = (
                not same
                or state is None
                or state.last_sent is None
                or state.detail != trouble.detail
                or (now >= state.last_sent + dt.timedelta(seconds=repo.realert) and now < expires)
            )
            if not due:
                continue
            if message is None:
                message = deletion_message(repo.facts, trouble, now, repo.realert, expires)
            plans.append(
                Plan(
                    repo,
                    channel,
                    DELETION,
                    DELETION,
                    since,
                    0,
                    state if same else None,
                    None if state is None else state.id,
                    message,
                    f"{channel.shown}: deletion: {trouble.detail}",
                    trouble.detail,
                )
            )
    dropped: list[int] = []
    channels = {c.id: c for owned in snapshot.channels.values() for c in owned}
    for key, state in sorted(snapshot.states.items()):
        repo_id, channel_id, kind = key
        if kind != DELETION or key in seen:
            continue
        owner_repo, owner_channel = snapshot.repos.get(repo_id), channels.get(channel_id)
        if (
            owner_repo is None
            or owner_channel is None
            or state.last_sent is None
            # Past the owner's alert expiration its deletions are no longer loaded: that
            # they are missing says nothing about an acknowledgement.
            or now >= state.since + dt.timedelta(seconds=owner_repo.expiration)
        ):
            dropped.append(state.id)
            continue
        repo, channel = owner_repo, owner_channel
        plans.append(
            Plan(
                repo,
                channel,
                DELETION,
                DELETION_ACKNOWLEDGED,
                state.since,
                0,
                state,
                state.id,
                acknowledged_message(repo.facts, state.since, state.detail, now),
                f"{channel.shown}: deletions acknowledged ({state.detail})",
                state.detail,
            )
        )
    return plans, dropped
