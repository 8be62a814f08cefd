"""What is due for a repository with client reports, apart from any I/O: its conditions
(stale by either reference, client-failed, client-timeout), whether a message is due
through one channel, and the recovery notice when a condition ended. :mod:`.plan` calls
these for every repository whose :class:`~.plan.RepoRow` has ``client`` facts; repositories
without reports never come here, so they behave as before client reports existed.

Reminders follow the stale rule: the first message of an episode (a new ``since``) at
once, then every re-alert interval of the owner until the expiration, counted from the
episode's start.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from borghive.rules.channels import Message
from borghive.rules.quantities import format_duration
from borghive.service.alerts.client import (
    CLIENT_FAILED,
    CLIENT_TIMEOUT,
    LAST_SUCCESS,
    LAST_UPDATE,
    ClientFacts,
    client_conditions,
    client_resumed,
    stale_old,
)
from borghive.service.alerts.client_messages import (
    client_recovered_message,
    failed_message,
    stale_reasons,
    stale_report_message,
    stale_report_recovered_message,
    timeout_message,
)

if TYPE_CHECKING:
    from borghive.service.alerts.plan import RepoRow, StateRow

# (event, message, detail): the event is the plan's ("recovered" for every recovery, so
# that recording removes the state), the detail the event row's words.
Due = tuple[str, Message, str]


def _when(value: dt.datetime | None) -> str:
    return "never" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def found(
    repo: RepoRow, client: ClientFacts, now: dt.datetime, run_timeout: int
) -> list[tuple[str, dt.datetime]]:
    """The conditions of a repository with reports (``client``): (kind, since)."""
    result: list[tuple[str, dt.datetime]] = []
    facts = repo.facts
    if facts.alert_after is not None:
        old = stale_old(facts.since, client, facts.alert_after, now)
        if old:
            result.append(("stale", min(old.values())))
    result.extend(client_conditions(client, now, run_timeout))
    return result


def _old(repo: RepoRow, client: ClientFacts, now: dt.datetime) -> tuple[str, ...]:
    if repo.facts.alert_after is None:
        return ()
    old = stale_old(repo.facts.since, client, repo.facts.alert_after, now)
    return tuple(name for name in (LAST_UPDATE, LAST_SUCCESS) if name in old)


def due(
    repo: RepoRow,
    client: ClientFacts,
    shown: str,
    kind: str,
    since: dt.datetime,
    state: StateRow | None,
    now: dt.datetime,
    messages: dict[tuple[int, str], Message],
    run_timeout: int = 6 * 3600,
) -> Due | None:
    """The message of condition ``kind`` (since ``since``) of a repository with reports
    (``client``) due now through the channel ``shown``, or None when it was sent and no
    reminder is due. ``messages`` caches one message per repository and kind across
    channels."""
    same = state is not None and state.since == since and not state.recovering
    expires = since + dt.timedelta(seconds=repo.expiration)
    if (
        same
        and state is not None
        and state.last_sent is not None
        and (now < state.last_sent + dt.timedelta(seconds=repo.realert) or now >= expires)
    ):
        return None
    facts = repo.facts
    message = messages.get((repo.id, kind))
    if kind == "stale":
        old = _old(repo, client, now)
        if message is None:
            message = stale_report_message(facts, client, old, since, now, repo.realert, expires)
        detail = (
            f"{shown}: {stale_reasons(old, facts, client, now)} "
            f"(alert after {format_duration(facts.alert_after)})"
        )
        event = "alert"
    elif kind == CLIENT_FAILED:
        failure = client.failure
        if failure is None:  # the condition holds only with one
            return None
        if message is None:
            message = failed_message(facts, client, failure, now, repo.realert, expires)
        status = "" if failure.exit_status is None else f", exit status {failure.exit_status}"
        detail = f"{shown}: client reported a failure at {_when(failure.received)}{status}"
        event = CLIENT_FAILED
    else:
        run = client.open_run
        if run is None:  # the condition holds only with one
            return None
        if message is None:
            message = timeout_message(facts, client, run, now, run_timeout, repo.realert, expires)
        detail = (
            f"{shown}: run started {_when(since)} has not ended "
            f"(run timeout {format_duration(run_timeout)})"
        )
        event = CLIENT_TIMEOUT
    messages[(repo.id, kind)] = message
    return event, message, detail


def recovery(
    repo: RepoRow, shown: str, kind: str, since: dt.datetime, now: dt.datetime
) -> Due | None:
    """The recovery notice of an alert of ``kind`` that began at ``since`` and no longer
    holds, or None when it ended without resuming (settings changed, reports deleted):
    then it is forgotten quietly."""
    client = repo.client
    facts = repo.facts
    if client is None or not client_resumed(kind, since, facts.since, client):
        return None
    if kind == "stale":
        message = stale_report_recovered_message(facts, client, since, now)
        detail = (
            f"{shown}: backups resumed (last update {_when(facts.last_update)}, "
            f"last success {_when(client.last_success)}, alert since {_when(since)})"
        )
    elif kind == CLIENT_FAILED:
        message = client_recovered_message(facts, client, kind, since, now)
        detail = f"{shown}: client succeeded again at {_when(client.last_success)}"
    else:
        message = client_recovered_message(facts, client, kind, since, now)
        detail = f"{shown}: the run started {_when(since)} ended"
    return "recovered", message, detail
