"""The words of alerts about client reports, and their webhook bodies.

Bodies are the repository body of :mod:`.messages` (``format`` 1) with these keys added:

``alert``
    What the message is about: ``"stale"``, ``"client-failed"`` or ``"client-timeout"``
    (in ``client-recovered``: the alert that ended).
``last_success``
    ISO 8601 UTC of the newest successful client report; null when none.
``old``
    For ``stale``: which of ``"last_update"`` and ``"last_success"`` are older than the
    alert period; empty otherwise.
``report``
    The report the alert is about (the newest failure, the start that did not end):
    ``kind``, ``received``, ``run_id``, ``exit_status``, ``duration``, ``source``; null
    otherwise.
``log``, ``log_shortened``
    For ``client-failed``: the end of that report's log, cleaned, and whether anything
    before it was left out; null and false otherwise.
``run_timeout``
    For ``client-timeout``: ``pings.run_timeout`` in seconds; null otherwise.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from borghive.rules.channels import Message
from borghive.rules.logtail import one_line
from borghive.rules.quantities import format_age, format_duration
from borghive.service.alerts.client import (
    CLIENT_FAILED,
    LAST_SUCCESS,
    LAST_UPDATE,
    ClientFacts,
    ReportSummary,
)
from borghive.service.alerts.messages import RepoFacts, _data, _iso, _size_line, _when


def _age(now: dt.datetime, since: dt.datetime) -> str:
    return format_age((now - since).total_seconds())


def _summary(report: ReportSummary | None) -> dict[str, Any] | None:
    if report is None:
        return None
    return {
        "kind": report.kind,
        "received": report.received.isoformat(),
        "run_id": report.run_id,
        "exit_status": report.exit_status,
        "duration": report.duration,
        "source": report.source,
    }


def _body(
    event: str,
    facts: RepoFacts,
    client: ClientFacts,
    subject: str,
    text: str,
    now: dt.datetime,
    *,
    alert: str,
    since: dt.datetime,
    old: tuple[str, ...] = (),
    report: ReportSummary | None = None,
    log: str | None = None,
    run_timeout: int | None = None,
) -> Any:
    data = dict(_data(event, facts, subject, text, now))
    data.update(
        {
            "since": since.isoformat(),
            "alert": alert,
            "last_success": _iso(client.last_success),
            "old": list(old),
            "report": _summary(report),
            "log": log,
            "log_shortened": client.log_shortened if log is not None else False,
            "run_timeout": run_timeout,
        }
    )
    return data


def _run(report: ReportSummary) -> str:
    parts = []
    if report.exit_status is not None:
        parts.append(f"exit status {report.exit_status}")
    # Both come from the client: cleaned like its log before they reach a mail reader.
    if report.run_id:
        parts.append(f"run {one_line(report.run_id)}")
    if report.source:
        parts.append(f"from {one_line(report.source)}")
    return f" ({', '.join(parts)})" if parts else ""


def _last_success(client: ClientFacts) -> str:
    if client.last_success is None:
        first = _when(client.first_report)
        return f"it has not reported a success since it began reporting on {first}"
    return f"its last success was reported at {_when(client.last_success)}"


def failed_message(
    facts: RepoFacts,
    client: ClientFacts,
    failure: ReportSummary,
    now: dt.datetime,
    realert: int,
    expires: dt.datetime,
) -> Message:
    """A client reported ``failure``, newer than its last success, with the end of its
    log."""
    since = client.failing_since or failure.received
    status = f" (exit status {failure.exit_status})" if failure.exit_status else ""
    subject = f"[borghive] Backup job of {facts.reference} failed{status}"
    log = client.log or "(the report carried no log)"
    shortened = "… (earlier lines left out)\n" if client.log_shortened and client.log else ""
    quoted = "\n".join(f"  {line}" for line in (shortened + log).splitlines())
    repeat = (
        f"You will be reminded every {format_duration(realert)} until {_when(expires)}"
        if now < expires
        else "This is the last reminder"
    )
    text = (
        f"The backup job of {facts.reference} ({facts.url}) reported a failure at "
        f"{_when(failure.received)}{_run(failure)}; {_last_success(client)}.\n\n"
        f"The end of its log:\n{quoted}\n\n"
        "What to do: read the whole log on the client (or 'borghive repo reports "
        f"{facts.reference} --log' on the server), fix what it names and run the job again.\n\n"
        f"{repeat}; a notice follows when the job succeeds again.\n"
    )
    data = _body(
        CLIENT_FAILED,
        facts,
        client,
        subject,
        text,
        now,
        alert=CLIENT_FAILED,
        since=since,
        report=failure,
        log=client.log,
    )
    return Message(subject, text, data)


def timeout_message(
    facts: RepoFacts,
    client: ClientFacts,
    run: ReportSummary,
    now: dt.datetime,
    run_timeout: int,
    realert: int,
    expires: dt.datetime,
) -> Message:
    """The start ``run`` did not end within ``run_timeout`` seconds."""
    age = _age(now, run.received)
    subject = f"[borghive] Backup run of {facts.reference} has not ended after {age}"
    repeat = (
        f"You will be reminded every {format_duration(realert)} until {_when(expires)}"
        if now < expires
        else "This is the last reminder"
    )
    text = (
        f"The backup job of {facts.reference} ({facts.url}) reported a start at "
        f"{_when(run.received)}{_run(run)} and no end since ({age}); runs are expected to "
        f"end within {format_duration(run_timeout)}.\n\n"
        "What to do: look on the client whether the job hangs (a stale lock, a full disk, "
        "a network that dropped) or died before it could report; end it and run it again.\n\n"
        f"{repeat}; a notice follows when the run ends or a later run succeeds.\n"
    )
    data = _body(
        "client-timeout",
        facts,
        client,
        subject,
        text,
        now,
        alert="client-timeout",
        since=run.received,
        report=run,
        run_timeout=run_timeout,
    )
    return Message(subject, text, data)


def client_recovered_message(
    facts: RepoFacts, client: ClientFacts, kind: str, since: dt.datetime, now: dt.datetime
) -> Message:
    """A client alert ended: the job succeeded again, or the overdue run ended."""
    if kind == CLIENT_FAILED:
        subject = f"[borghive] Backup job of {facts.reference} succeeded again"
        what = (
            f"reported a success at {_when(client.last_success)}; it had reported failures "
            f"since {_when(since)}"
        )
    else:
        subject = f"[borghive] Backup run of {facts.reference} ended"
        what = f"ended the run it started at {_when(since)}, or a later run succeeded"
    text = f"The backup job of {facts.reference} ({facts.url}) {what}.\n\nNothing to do.\n"
    data = _body("client-recovered", facts, client, subject, text, now, alert=kind, since=since)
    return Message(subject, text, data)


def _cause(name: str, facts: RepoFacts, client: ClientFacts, now: dt.datetime) -> str:
    if name == LAST_UPDATE:
        when = facts.since
        last = (
            f"last update {_when(facts.last_update)}"
            if facts.last_update is not None
            else f"none since it was created on {_when(facts.created)}"
        )
        return f"no new archive for {_age(now, when)} ({last})"
    last = (
        f"last at {_when(client.last_success)}"
        if client.last_success is not None
        else f"none since its first report on {_when(client.first_report)}"
    )
    return f"no successful client report for {_age(now, client.success_reference)} ({last})"


def stale_reasons(
    old: tuple[str, ...], facts: RepoFacts, client: ClientFacts, now: dt.datetime
) -> str:
    """What is old, in words: 'no new archive for 3d (…)' and/or 'no successful client
    report for 3d (…)'."""
    return "; ".join(_cause(name, facts, client, now) for name in old)


def stale_report_message(
    facts: RepoFacts,
    client: ClientFacts,
    old: tuple[str, ...],
    since: dt.datetime,
    now: dt.datetime,
    realert: int,
    expires: dt.datetime,
) -> Message:
    """A repository with client reports is stale: no new archive, no successful report,
    or both, for longer than its alert period."""
    age = _age(now, since)
    if old == (LAST_SUCCESS,):
        subject = f"[borghive] No successful backup report for {facts.reference} for {age}"
    else:
        subject = f"[borghive] No backup of {facts.reference} for {age}"
    repeat = (
        f"You will be reminded every {format_duration(realert)} until {_when(expires)}"
        if now < expires
        else "This is the last reminder"
    )
    hints: dict[tuple[str, ...], str] = {
        (LAST_UPDATE,): "its client reports success, but no archive reached this server: "
        "check that the job backs up to this repository and that 'borg create' really runs",
        (LAST_SUCCESS,): "archives arrive, but the client's job has not reported a success: "
        "check its log (it may fail after 'borg create', or no longer ping) and its ping URL",
    }
    hint = hints.get(
        old,
        "check that the backup job on the client still runs and succeeds (its log, "
        "'borg create' by hand), that the client can reach the server and that its SSH key "
        "is still accepted",
    )
    text = (
        f"Repository {facts.reference} ({facts.url}): {stale_reasons(old, facts, client, now)}; "
        f"alerts are due after {format_duration(facts.alert_after)}.\n"
        f"{_size_line(facts)}\n\n"
        f"What to do: {hint}.\n\n"
        f"{repeat}; a notice follows when both are recent again.\n"
    )
    data = _body("alert", facts, client, subject, text, now, alert="stale", since=since, old=old)
    return Message(subject, text, data)


def stale_report_recovered_message(
    facts: RepoFacts, client: ClientFacts, since: dt.datetime, now: dt.datetime
) -> Message:
    """New archives and successful reports again, after a stale alert."""
    subject = f"[borghive] Backups of {facts.reference} resumed"
    text = (
        f"Repository {facts.reference} ({facts.url}) was updated at {_when(facts.last_update)} "
        f"and its client reported a success at {_when(client.last_success)}; the alert had "
        f"begun at {_when(since)}.\n{_size_line(facts)}\n\nNothing to do.\n"
    )
    data = _body("recovered", facts, client, subject, text, now, alert="stale", since=since)
    return Message(subject, text, data)
