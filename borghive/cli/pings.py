"""``borghive pings``: the Healthchecks-compatible ping endpoint (foreground, under systemd)."""

from __future__ import annotations

import os

import typer

from borghive.cli.app import state
from borghive.errors import RefusedError


def pings(ctx: typer.Context) -> None:
    """Receive clients' reports (borgmatic's healthchecks hook, curl) on pings.listen:port."""
    from borghive.pings import wiring

    app_state = state(ctx)
    wiring.configure_logging(app_state.debug)
    try:
        status = wiring.run(app_state.config, app_state.config_path)
    except OSError as exc:
        pings_config = app_state.config.pings
        raise RefusedError(
            f"pings: cannot listen on {pings_config.listen}:{pings_config.port}: "
            f"{os.strerror(exc.errno) if exc.errno else exc}",
            hint="is another borghive pings running? see pings.listen and pings.port",
        ) from None
    raise typer.Exit(status)
