"""``borghive config``: inspect the configuration."""

from __future__ import annotations

import typer

from borghive.cli.app import state
from borghive.cli.options import JsonOption
from borghive.cli.render import emit_json, fields, say
from borghive.config_load import config_as_dict
from borghive.login.cache import write_login_cache

app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)


@app.command("check")
def check(ctx: typer.Context, json: JsonOption = False) -> None:
    """Validate the configuration and print the effective values (secrets are file paths).

    Also refreshes the validated copy that `borghive authkeys` reads on every login; run
    it after editing the file."""
    config = state(ctx).config
    effective = config_as_dict(config)
    login_copy = write_login_cache(config)
    if json:
        emit_json({**effective, "login_cache": None if login_copy is None else str(login_copy)})
        return
    say(f"configuration OK ({effective.pop('source')})")
    if login_copy is not None:
        say(f"login path copy refreshed: {login_copy}")
    for section, values in effective.items():
        say(f"[{section}]")
        fields([(key, value) for key, value in values.items()])
