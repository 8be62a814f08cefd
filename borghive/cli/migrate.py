"""``borghive migrate``: create or upgrade the store's schema."""

from __future__ import annotations

import sys

import typer

from borghive.cli.app import refresh_login_snapshot, state
from borghive.cli.options import JsonOption
from borghive.cli.render import emit_json, say
from borghive.login.cache import write_login_cache
from borghive.service.hosts.identity import this_host
from borghive.service.hosts.report import report_this_host
from borghive.store import describe, open_store
from borghive.store.migrations import LATEST_VERSION, apply_migrations


def migrate(ctx: typer.Context, json: JsonOption = False) -> None:
    """Create the store or apply pending schema migrations (safe to run again), and
    register this storage host with its capacity (borghive host list)."""
    config = state(ctx).config
    with open_store(config.store, check_schema=False, create=True) as db:
        applied = apply_migrations(db, this_host(config))
        report = report_this_host(config)
    write_login_cache(config)  # the login path's copy of the configuration, see login/cache.py
    refresh_login_snapshot(config)  # on PostgreSQL, this host's login snapshot
    if json:
        emit_json(
            {"applied": [m.version for m in applied], "version": LATEST_VERSION, "host": report}
        )
        return
    where = describe(config.store.url)
    if not applied:
        say(f"store {where} is up to date (schema version {LATEST_VERSION})")
    for migration in applied:
        say(f"applied migration {migration.version}: {migration.description}")
    say(f"storage host {report.name} reported: {report.repositories} repositories here")
    if report.problem:
        sys.stderr.write(f"borghive: warning: {report.problem}\n")
