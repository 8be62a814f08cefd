"""Alerts: stale backups, full quotas, what client reports say (failed or overdue runs:
:mod:`.client`) and, planned in ``upkeep.py``, failed checks and stuck locks, told to the
owner through each of their channels.

A repository with an alert period fires when its last update (or, never updated, its
creation) is older than that period. The owner's re-alert interval spaces the reminders and
their expiration (counted from the last update) ends them; the first alert of an episode is
always sent. When backups resume, a recovery notice follows. A repository with a quota warns
once when its latest measured usage reaches ``alerts.quota_warn_percent``, once more at 100 %.

What was sent is kept per repository, channel and kind in ``alert_state``, so each run only
sends what is due. A check reads the store, then sends each message outside any transaction
(a slow channel must not hold the store's write lock) and records its outcome (state and
``alert``/``recovered`` event) in a short transaction of its own right after it: whatever
happens later in the run, what was sent stays recorded, once. A failed delivery, whatever
its exception, is that channel's failure only: logged, counted, recorded as a failure (not
as sent) and tried again next run; the other channels are still sent. When the store fails
while recording, the run stops (nothing more is sent that could not be recorded). Time
comes from the ``clock`` argument (aware UTC).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from borghive.config import Config
from borghive.errors import ConflictError, NotFoundError
from borghive.rules.channels import DeliveryError, Message, Sender, describe_channel
from borghive.rules.times import to_store
from borghive.rules.urls import scrub
from borghive.service.alerts.channels import channel_targets
from borghive.service.alerts.deletion import plan_deletion_alerts
from borghive.service.alerts.deletion_snapshot import add_deletions
from borghive.service.alerts.messages import trial_message
from borghive.service.alerts.plan import Firing, Plan, Snapshot, StateRow, firing, plan_deliveries
from borghive.service.alerts.snapshot import load_snapshot
from borghive.service.alerts.upkeep import plan_upkeep
from borghive.service.alerts.upkeep_snapshot import add_upkeep
from borghive.store import execute, is_sqlite, raw_rows, write_transaction
from borghive.store.models import AlertState, Event, NotifyChannel, Repository

log = logging.getLogger(__name__)


def _notifier(config: Config) -> Sender:
    """The real channels (imported only when something is sent: smtplib, ssl, urllib)."""
    from borghive.delivery.notifier import Notifier

    return Notifier(config.alerts).send


Clock = Callable[[], dt.datetime]
_CHUNK = 500
_CHECK_LOCK = 0x616C7274  # "alrt": PostgreSQL advisory lock, one check at a time


def system_clock() -> dt.datetime:
    """Aware UTC now."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Delivery:
    """One message through one channel: sent, failed (``error``), or only planned."""

    repository: str | None
    event: str  # "alert", "quota", "recovered", "test", a client kind's or a maintenance kind's
    channel: str
    sent: bool
    error: str | None = None


@dataclass(frozen=True)
class CheckReport:
    time: dt.datetime
    dry_run: bool
    repositories: int
    firing: int
    unnotified: int
    deliveries: tuple[Delivery, ...]

    @property
    def failed(self) -> int:
        return sum(1 for d in self.deliveries if d.error is not None)


def _snapshot(config: Config, now: dt.datetime, *, refresh: bool = False) -> Snapshot:
    """Everything a check decides on: the stale and quota candidates, then the maintenance
    kinds (failed checks, locks held too long), then the deletions (with ``refresh``, after
    reading what is new in the local repositories' histories)."""
    snapshot = load_snapshot(config, now)
    add_upkeep(config, snapshot)
    add_deletions(config, snapshot, refresh=refresh)
    return snapshot


def _aware_now(clock: Clock) -> dt.datetime:
    now = clock()
    if now.tzinfo is None:
        raise ValueError("the alert clock must return an aware datetime")
    return now.astimezone(dt.UTC)


def check_alerts(
    config: Config, clock: Clock, *, sender: Sender | None = None, dry_run: bool = False
) -> CheckReport:
    """Send every alert, reminder and recovery notice that is due now; with ``dry_run``
    only report them. Raises ConflictError when another check holds the PostgreSQL lock."""
    now = _aware_now(clock)
    locked = False
    if not dry_run and not is_sqlite():
        locked = bool(execute("SELECT pg_try_advisory_lock(%s)", (_CHECK_LOCK,)).fetchone()[0])
        if not locked:
            raise ConflictError(
                "another 'borghive alert check' is running", hint="it will be tried again"
            )
    try:
        snapshot = _snapshot(config, now, refresh=not dry_run)
        plans, dropped, unnotified = plan_deliveries(snapshot)
        upkeep_plans, upkeep_dropped = plan_upkeep(snapshot)
        deletion_plans, deletion_dropped = plan_deletion_alerts(snapshot)
        plans = plans + upkeep_plans + deletion_plans
        dropped = dropped + upkeep_dropped + deletion_dropped
        firing = len(snapshot.conditions)
        if dry_run:
            deliveries = tuple(
                Delivery(p.repo.facts.reference, p.event, p.channel.shown, sent=False)
                for p in plans
            )
            return CheckReport(now, True, len(snapshot.repos), firing, unnotified, deliveries)
        send = sender or _notifier(config)
        if dropped:
            _record([], dropped, now)
        outcomes: list[tuple[Plan, str | None]] = []
        for plan in plans:
            error = _deliver(send, plan.channel.kind, plan.channel.target, plan.message)
            if error is not None:
                log.warning(
                    "%s for %s through %s failed (retried next run): %s",
                    plan.event,
                    plan.repo.facts.reference,
                    plan.channel.shown,
                    error,
                )
            try:
                _record([(plan, error)], [], now)
            except BaseException:
                if error is None:
                    log.error(
                        "%s for %s through %s was sent but could not be recorded: "
                        "it will be sent again",
                        plan.event,
                        plan.repo.facts.reference,
                        plan.channel.shown,
                    )
                raise
            outcomes.append((plan, error))
    finally:
        if locked:
            execute("SELECT pg_advisory_unlock(%s)", (_CHECK_LOCK,))
    deliveries = tuple(
        Delivery(p.repo.facts.reference, p.event, p.channel.shown, error is None, error)
        for p, error in outcomes
    )
    return CheckReport(now, False, len(snapshot.repos), firing, unnotified, deliveries)


def _deliver(send: Sender, kind: str, target: str, message: Message) -> str | None:
    """Send one message; None when sent, else why not in one line. Any exception is that
    channel's failure: a sender should raise only DeliveryError, but a fault of one (a
    library's surprise, a bug) must not stop the channels after it."""
    try:
        send(kind, target, message)
    except DeliveryError as exc:
        return exc.reason
    except Exception as exc:  # see the docstring
        log.debug("%s failed unexpectedly", describe_channel(kind, target), exc_info=True)
        words = scrub(" ".join(str(exc).split()))[:200]
        return f"{type(exc).__name__}: {words}" if words else type(exc).__name__
    return None


def _existing(model: type[Repository] | type[NotifyChannel], ids: Iterable[int]) -> set[int]:
    wanted, found = sorted(set(ids)), set[int]()
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        found.update(i for (i,) in raw_rows(model.select(model.id).where(model.id.in_(chunk))))
    return found


def _record(outcomes: list[tuple[Plan, str | None]], dropped: list[int], now: dt.datetime) -> None:
    """Write what was sent (states, events) in one transaction; repositories or channels
    deleted meanwhile are skipped."""
    stamp = to_store(now)
    with write_transaction():
        repos = _existing(Repository, (p.repo.id for p, _ in outcomes))
        channels = _existing(NotifyChannel, (p.channel.id for p, _ in outcomes))
        events: list[dict[str, object]] = []
        inserts: list[dict[str, object]] = []
        deletes = list(dropped)
        for plan, error in outcomes:
            if plan.repo.id not in repos or plan.channel.id not in channels:
                continue
            state = plan.state
            if error is None:
                kind = "recovered" if plan.recovery else "alert"
                events.append(
                    {"repository": plan.repo.id, "kind": kind, "time": stamp, "detail": plan.detail}
                )
            if plan.recovery:
                if error is None:
                    deletes.append(plan.state_id or 0)
                else:
                    AlertState.update(
                        recovering=True,
                        failures=AlertState.failures + 1,
                        last_error=error,
                    ).where(AlertState.id == plan.state_id).execute()
                continue
            values: dict[str, object] = {
                "since": to_store(plan.since),
                "level": plan.level if error is None else (state.level if state else 0),
                "last_sent": stamp if error is None else _sent(state),
                "sent_count": (state.sent_count if state else 0) + (error is None),
                "recovering": False,
                "failures": 0 if error is None else (state.failures if state else 0) + 1,
                "last_error": error,
                "detail": plan.state_detail if error is None else (state.detail if state else ""),
            }
            if plan.state_id is None:
                inserts.append(
                    {"repository": plan.repo.id, "channel": plan.channel.id, "kind": plan.kind}
                    | values
                )
            else:
                AlertState.update(**values).where(AlertState.id == plan.state_id).execute()
        for start in range(0, len(deletes), _CHUNK):
            AlertState.delete().where(AlertState.id.in_(deletes[start : start + _CHUNK])).execute()
        for start in range(0, len(inserts), 100):
            AlertState.insert_many(inserts[start : start + 100]).execute()
        for start in range(0, len(events), 200):
            Event.insert_many(events[start : start + 200]).execute()


def _sent(state: StateRow | None) -> dt.datetime | None:
    return None if state is None or state.last_sent is None else to_store(state.last_sent)


def list_firing(config: Config, clock: Clock) -> list[Firing]:
    """Every alert condition that holds now, by owner and repository, with when its owner
    was last told (None: not yet, or nobody to tell)."""
    return firing(_snapshot(config, _aware_now(clock)))


def send_test(
    config: Config, owner: str, clock: Clock, *, sender: Sender | None = None
) -> list[Delivery]:
    """Send a test message through each of ``owner``'s channels; report each outcome.
    Raises NotFoundError for an unknown owner or one without channels."""
    channels = channel_targets(owner)
    if not channels:
        raise NotFoundError(
            f"user {owner!r} has no notification channels",
            hint=f"add one with 'borghive user notify add {owner} email ADDRESS'",
        )
    now = _aware_now(clock)
    send = sender or _notifier(config)
    deliveries: list[Delivery] = []
    for kind, target in channels:
        shown = describe_channel(kind, target)
        error = _deliver(send, kind, target, trial_message(owner, shown, now))
        deliveries.append(Delivery(None, "test", shown, sent=error is None, error=error))
    return deliveries
