"""``borghive repo ping-url``: the URL a repository's client reports its runs to."""

from __future__ import annotations

from typing import Annotated

import typer

from borghive.cli.app import state, store_session
from borghive.cli.options import JsonOption
from borghive.cli.render import emit_json, say
from borghive.service.pings.urls import repository_ping_url


def ping_url(
    ctx: typer.Context,
    repository: Annotated[
        str, typer.Argument(help="The repository: OWNER/NAME or its repository user name.")
    ],
    rotate: Annotated[
        bool,
        typer.Option(
            "--rotate",
            help="Replace the token; the old URL stops working within seconds.",
        ),
    ] = False,
    json: JsonOption = False,
) -> None:
    """Print a repository's ping URL (made on first use) and the borgmatic lines using it."""
    with store_session(ctx):
        result = repository_ping_url(state(ctx).config, repository, rotate=rotate)
    if json:
        emit_json(result)
        return
    say(result.url)
    say(f"borgmatic configuration of {result.repository}:\n{result.borgmatic}".rstrip())


def register(app: typer.Typer) -> None:
    """Add ``ping-url`` to the ``repo`` group."""
    app.command("ping-url")(ping_url)
