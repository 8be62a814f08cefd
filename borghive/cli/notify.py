"""``borghive user notify``: where a user's alerts go (e-mail, webhook, Pushover)."""

from __future__ import annotations

from typing import Annotated

import typer

from borghive.cli.app import store_session
from borghive.cli.options import JsonOption
from borghive.cli.render import emit_json, say, table, when
from borghive.service.alerts import channels as notify

app = typer.Typer(
    help="Manage a user's alert channels: e-mail, webhook, Pushover.", no_args_is_help=True
)

OwnerArgument = Annotated[str, typer.Argument(help="The user the channel belongs to.")]
KindArgument = Annotated[str, typer.Argument(help="Channel kind: email, webhook or pushover.")]


@app.command("add")
def add(
    ctx: typer.Context,
    owner: OwnerArgument,
    kind: KindArgument,
    target: Annotated[
        str | None,
        typer.Argument(
            help="E-mail address (default: the user's), http(s):// URL (private and loopback "
            "hosts allowed; a user and password in it are never shown), or Pushover user key."
        ),
    ] = None,
    json: JsonOption = False,
) -> None:
    """Add an alert channel for a user."""
    with store_session(ctx):
        channel = notify.add_channel(owner, kind, target)
    if json:
        emit_json(channel)
    else:
        say(f"added {channel.kind} channel {channel.target} for {channel.owner}")


@app.command("list")
def list_(
    ctx: typer.Context,
    owner: Annotated[
        str | None, typer.Argument(help="Only this user's channels; default: everyone's.")
    ] = None,
    json: JsonOption = False,
) -> None:
    """List alert channels."""
    with store_session(ctx, readonly=True):
        channels = notify.list_channels(owner)
    if json:
        emit_json(channels)
        return
    table(
        "Alert channels",
        ["user", "kind", "target", "added"],
        [(c.owner, c.kind, c.target, when(c.created)) for c in channels],
    )


@app.command("remove")
def remove(
    ctx: typer.Context,
    owner: OwnerArgument,
    kind: KindArgument,
    target: Annotated[str, typer.Argument(help="The address, URL or key, as added or as listed.")],
) -> None:
    """Remove an alert channel (what it was told is forgotten)."""
    with store_session(ctx):
        channel = notify.remove_channel(owner, kind, target)
    say(f"removed {channel.kind} channel {channel.target} for {channel.owner}")
