"""``borghive doctor``: check the storage host's setup and say what to fix."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from borghive.cli.app import state
from borghive.cli.options import JsonOption
from borghive.cli.render import console, emit_json
from borghive.login.cache import write_login_cache
from borghive.service.doctor.checks import (
    DEFAULT_AUTHKEYS_COMMAND,
    DEFAULT_COMMAND_USER,
    Check,
    run_checks,
)

if TYPE_CHECKING:
    from rich.text import Text

_STYLES = {"ok": "green", "warn": "yellow", "FAIL": "bold red"}


def render_check(check: Check) -> Text:
    """``STATUS  name: detail``, the status padded to four columns and coloured on a terminal."""
    from rich.text import Text

    return Text.assemble(
        (f"{check.status:<4}", _STYLES[check.status]), f"  {check.name}: {check.detail}"
    )


def doctor(
    ctx: typer.Context,
    authkeys_command: Annotated[
        Path,
        typer.Option(
            "--authkeys-command",
            help="The program sshd's AuthorizedKeysCommand runs.",
        ),
    ] = DEFAULT_AUTHKEYS_COMMAND,
    command_user: Annotated[
        str,
        typer.Option("--command-user", help="sshd's AuthorizedKeysCommandUser."),
    ] = DEFAULT_COMMAND_USER,
    json: JsonOption = False,
) -> None:
    """Check the setup: sshd's key command and its user, the store, borg, the repos root,
    LDAP, inotify limits. Exit 1 when a check fails."""
    config = state(ctx).config
    write_login_cache(config)  # the login path's copy of the configuration, see login_copy.py
    checks = run_checks(config, authkeys_command=authkeys_command, command_user=command_user)
    if json:
        emit_json(checks)
    else:
        for check in checks:
            # One line per check even when piped: no wrapping at the console's width.
            console().print(render_check(check), soft_wrap=True)
    if any(check.status == "FAIL" for check in checks):
        raise typer.Exit(1)
