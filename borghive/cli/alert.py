"""``borghive alert``: tell owners about stale backups and full quotas."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from borghive.cli.app import store_session
from borghive.cli.options import JsonOption
from borghive.cli.render import counted, emit_json, say, table, when
from borghive.rules.quantities import format_duration, format_size

# The alert services (and the delivery adapters under them) are imported by the commands
# that use them: importing them here cost every borghive command about 80 ms at start-up.

app = typer.Typer(
    help=(
        "Alerts: stale backups, full quotas, failed checks, stuck locks and deletions, sent "
        "through each owner's channels."
    ),
    no_args_is_help=True,
)


def _log_to_stderr() -> None:
    """Delivery failures, logged by the service, as ``borghive: warning:`` lines."""

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("borghive: warning: %(message)s"))
    logger = logging.getLogger("borghive.service.alerts.check")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.WARNING)
    logger.propagate = False


@app.command("check")
def check(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only show what would be sent; send nothing.")
    ] = False,
    json: JsonOption = False,
) -> None:
    """Send the alerts, reminders and recovery notices due now (run from cron every few
    minutes). Exit 1 when a channel failed; it is tried again next run."""
    from borghive.service.alerts import check as alerts

    _log_to_stderr()
    with store_session(ctx, readonly=dry_run) as config:
        report = alerts.check_alerts(config, alerts.system_clock, dry_run=dry_run)
    if json:
        emit_json(report)
    else:
        verb = "would send" if dry_run else "sent"
        for delivery in report.deliveries:
            if delivery.error is None:
                say(f"{verb} {delivery.event} for {delivery.repository} to {delivery.channel}")
        sent = sum(1 for d in report.deliveries if d.error is None)
        say(
            f"checked {counted(report.repositories, 'repository', 'repositories')}: "
            f"{counted(report.firing, 'alert')} firing, {counted(sent, 'message')} {verb}, "
            f"{report.failed} failed, "
            f"{report.unnotified} with no channel to tell"
        )
    if report.failed:
        raise typer.Exit(1)


@app.command("list")
def list_(ctx: typer.Context, json: JsonOption = False) -> None:
    """List the alerts firing now: stale backups, quotas at the warning level or full,
    failed checks, locks held too long, and failed or overdue client runs."""
    from borghive.service.alerts import check as alerts

    with store_session(ctx, readonly=True) as config:
        firing = alerts.list_firing(config, alerts.system_clock)
    if json:
        emit_json(firing)
        return
    rows = []
    for item in firing:
        if item.kind == "stale":
            what = f"no backup since {when(item.since)} (after {format_duration(item.alert_after)})"
        elif item.kind == "client-failed":
            what = f"client reports failures since {when(item.since)}"
        elif item.kind == "client-timeout":
            what = f"client run started {when(item.since)} has not ended"
        elif item.kind == "quota":
            what = (
                f"quota {item.level}%: {format_size(item.bytes_used)} of {format_size(item.quota)}"
            )
        elif item.kind == "lock-stuck":
            what = f"locked since {when(item.since)} by {item.detail}"
        elif item.kind == "deletion":
            what = f"unacknowledged deletions since {when(item.since)}: {item.detail}"
        else:
            what = f"check failed at {when(item.since)}: {item.detail}"
        rows.append((item.repository, item.kind, what, item.channels, when(item.notified)))
    table("Firing alerts", ["repository", "kind", "what", "channels", "last told"], rows)


@app.command("ack")
def ack(
    ctx: typer.Context,
    repository: Annotated[str, typer.Argument(help="The repository, OWNER/NAME.")],
    json: JsonOption = False,
) -> None:
    """Acknowledge a repository's deleting transactions: its deletion alert ends (a notice
    follows at the next check) and compaction may run once maintenance.delete_hold has
    passed. Nothing to acknowledge is not an error (exit 0)."""
    from borghive.service.alerts import check as alerts
    from borghive.service.history.acknowledge import acknowledge_deletions

    with store_session(ctx):
        done = acknowledge_deletions(repository, alerts.system_clock())
    if json:
        emit_json(done)
        return
    if not done.transactions:
        say(f"{done.repository}: nothing to acknowledge (no unacknowledged deleting transaction)")
        return
    for item in done.transactions:
        key = f" through key {item.key}" if item.key else ""
        say(
            f"acknowledged transaction {item.transaction} at {when(item.time)}: "
            f"{counted(item.deletes, 'object')} deleted{key}"
        )
    say(f"{done.repository}: {counted(len(done.transactions), 'transaction')} acknowledged")


@app.command("test")
def test(
    ctx: typer.Context,
    owner: Annotated[str, typer.Argument(help="The user whose channels get a test message.")],
    json: JsonOption = False,
) -> None:
    """Send a test message through each of a user's channels. Exit 1 when one failed."""
    from borghive.service.alerts import check as alerts

    with store_session(ctx, readonly=True) as config:
        deliveries = alerts.send_test(config, owner, alerts.system_clock)
    if json:
        emit_json(deliveries)
    else:
        for delivery in deliveries:
            if delivery.error is None:
                say(f"sent test message to {delivery.channel}")
            else:
                sys.stderr.write(f"borghive: warning: {delivery.channel}: {delivery.error}\n")
    if any(d.error is not None for d in deliveries):
        raise typer.Exit(1)
