"""``borghive config``: inspect the configuration."""

from __future__ import annotations

import typer

from borghive.cli.app import state
from borghive.cli.options import JsonOption
from borghive.cli.render import console, emit_json, fields
from borghive.config import config_as_dict

app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)


@app.command("check")
def check(ctx: typer.Context, json: JsonOption = False) -> None:
    """Validate the configuration and print the effective values (secrets are file paths)."""
    effective = config_as_dict(state(ctx).config)
    if json:
        emit_json(effective)
        return
    console.print(f"configuration OK ({effective.pop('source')})", markup=False)
    for section, values in effective.items():
        console.print(f"[bold]\\[{section}][/bold]")
        fields([(key, value) for key, value in values.items()])
