"""``borghive doctor``: check the storage host's setup and say what to fix."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from borghive.cli.app import state
from borghive.cli.options import JsonOption
from borghive.cli.render import console, emit_json
from borghive.login.cache import write_login_cache
from borghive.service.doctor.checks import run_checks
from borghive.service.doctor.findings import Check
from borghive.service.doctor.sshd import DEFAULT_SSHD_CONFIG

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
    sshd_config: Annotated[
        Path,
        typer.Option(
            "--sshd-config",
            help="sshd's configuration, read with its Include files for the "
            "AuthorizedKeysCommand (program, configuration file, user) that logins run.",
        ),
    ] = DEFAULT_SSHD_CONFIG,
    authkeys_command: Annotated[
        Path | None,
        typer.Option(
            "--authkeys-command",
            help="Check this program instead of the one sshd's configuration names "
            "(default there: /usr/local/bin/borghive).",
        ),
    ] = None,
    command_user: Annotated[
        str | None,
        typer.Option(
            "--command-user",
            help="Check this AuthorizedKeysCommandUser instead of the one sshd's "
            "configuration names (default there: borghive).",
        ),
    ] = None,
    json: JsonOption = False,
) -> None:
    """Check the setup: what sshd runs at login (its key command, user, the configuration
    file and login copy it reads, libpq), the store, borg, the repos root, LDAP, inotify
    limits. Exit 1 when a check fails."""
    config = state(ctx).config
    write_login_cache(config)  # the login path's copy of the configuration: login/cache.py
    checks = run_checks(
        config,
        sshd_config=sshd_config,
        authkeys_command=authkeys_command,
        command_user=command_user,
    )
    if json:
        emit_json(checks)
    else:
        for check in checks:
            # One line per check even when piped: no wrapping at the console's width.
            console().print(render_check(check), soft_wrap=True)
    if any(check.status == "FAIL" for check in checks):
        raise typer.Exit(1)
