"""What client reports mean for alerts, apart from any I/O: the facts one repository's
reports give (:class:`ClientFacts`, loaded by :mod:`.client_snapshot`), the conditions they
raise, and when an alert about them has ended.

- ``client-failed``: the newest failure (``fail``, or any exit status other than 0) is newer
  than the last success. The episode begins at the first failure after that success.
- ``client-timeout``: a run started and did not end within ``pings.run_timeout``. A start
  with a run id is ended by a success or failure with the same run id; one without, by
  any success or failure after it; any success ends every run that started before it.
  The episode begins at the oldest start still open.
- ``stale``, for a repository with reports: the last update (new archive) or the last
  successful report is older than the alert period; a repository that never reported a
  success counts from its first report.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

CLIENT_FAILED = "client-failed"
CLIENT_TIMEOUT = "client-timeout"
CLIENT_KINDS = (CLIENT_FAILED, CLIENT_TIMEOUT)

# The two references of a stale repository with reports, named as in the webhook body.
LAST_UPDATE = "last_update"
LAST_SUCCESS = "last_success"


@dataclass(frozen=True)
class ReportSummary:
    """One client report as alerts quote it (its log apart)."""

    received: dt.datetime
    kind: str
    run_id: str | None
    exit_status: int | None
    duration: float | None
    source: str | None


@dataclass(frozen=True)
class ClientFacts:
    """What one repository's client reports say at the time of a check."""

    first_report: dt.datetime
    last_success: dt.datetime | None
    failing_since: dt.datetime | None  # the first failure after the last success
    failure: ReportSummary | None  # the newest failure after the last success
    log: str  # the end of that failure's log, cleaned (rules/logtail.py)
    log_shortened: bool  # lines left out before it, or the stored body was cut
    open_run: ReportSummary | None  # the oldest start after the last success still open

    @property
    def success_reference(self) -> dt.datetime:
        """The last success, or the first report when none was ever successful."""
        return self.last_success or self.first_report


def is_failure(kind: str, exit_status: int | None) -> bool:
    """A ``fail`` report, or any report with an exit status other than 0."""
    return kind == "fail" or (exit_status is not None and exit_status != 0)


def is_success(kind: str, exit_status: int | None) -> bool:
    """A ``success`` report with no exit status or 0."""
    return kind == "success" and not exit_status


def oldest_open_start(reports: list[ReportSummary]) -> ReportSummary | None:
    """The oldest start among ``reports`` (all received after the last success, oldest
    first) that no later success or failure ended: one with the same run id, or for a
    start without run id any."""
    open_starts: list[ReportSummary] = []
    for report in reports:
        if report.kind == "start":
            open_starts.append(report)
        elif report.kind in ("success", "fail") or report.exit_status is not None:
            open_starts = [
                start
                for start in open_starts
                if start.run_id is not None and start.run_id != report.run_id
            ]
    return open_starts[0] if open_starts else None


def stale_old(
    last_update: dt.datetime, client: ClientFacts, alert_after: int, now: dt.datetime
) -> dict[str, dt.datetime]:
    """The references of a repository with reports that are older than ``alert_after``
    seconds (:data:`LAST_UPDATE`: the last update, else creation; :data:`LAST_SUCCESS`: the
    last success, else the first report), with their times; empty when it is not stale."""
    period = dt.timedelta(seconds=alert_after)
    references = {LAST_UPDATE: last_update, LAST_SUCCESS: client.success_reference}
    return {name: when for name, when in references.items() if now - when >= period}


def client_conditions(
    client: ClientFacts, now: dt.datetime, run_timeout: int
) -> list[tuple[str, dt.datetime]]:
    """The client kinds that hold at ``now``, with since when."""
    found: list[tuple[str, dt.datetime]] = []
    if client.failing_since is not None:
        found.append((CLIENT_FAILED, client.failing_since))
    run = client.open_run
    if run is not None and now - run.received >= dt.timedelta(seconds=run_timeout):
        found.append((CLIENT_TIMEOUT, run.received))
    return found


def client_resumed(
    kind: str, since: dt.datetime, last_update: dt.datetime, client: ClientFacts | None
) -> bool:
    """Whether an alert of ``kind`` that began at ``since`` and no longer holds ended the
    way its recovery notice says: a success after it (``client-failed``), the run ended or
    a later success (``client-timeout``), both references past it (``stale``). False means
    it stopped holding for another reason (settings changed, reports deleted): it is then
    forgotten without a notice."""
    if client is None:
        return False
    if kind == CLIENT_FAILED:
        return client.last_success is not None and client.last_success > since
    if kind == CLIENT_TIMEOUT:
        run = client.open_run
        return run is None or run.received != since
    return min(last_update, client.success_reference) > since
