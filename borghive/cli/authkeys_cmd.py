"""``borghive authkeys``: the help and the in-process form of sshd's AuthorizedKeysCommand.

sshd's calls never come here: ``borghive.entry`` sends them straight to
:mod:`borghive.login.authkeys`, without loading Typer.
"""

from __future__ import annotations

from typing import Annotated

import typer

from borghive.cli.app import state
from borghive.login.authkeys import main as authkeys_main


def authkeys(
    ctx: typer.Context,
    user: Annotated[str, typer.Argument(help="Repository user sshd asks about (%u).")],
    key_type: Annotated[
        str | None, typer.Argument(help="Type of the key offered (%t); with KEY.")
    ] = None,
    key: Annotated[
        str | None, typer.Argument(help="Base64 of the key offered (%k): print only its line.")
    ] = None,
) -> None:
    """Print the authorized_keys lines for a repository user (sshd AuthorizedKeysCommand).

    Read-only. Unknown user: no output, exit 0. Any error: no output, exit 1, one line to
    syslog. Use in sshd_config: AuthorizedKeysCommand /usr/local/bin/borghive authkeys %u %t %k
    """
    argv = []
    config_path = state(ctx).config_path
    if config_path is not None:
        argv += ["--config", str(config_path)]
    argv += ["authkeys", user]
    if key_type is not None or key is not None:
        if key_type is None or key is None:
            raise typer.BadParameter("give both KEY_TYPE and KEY, or neither")
        argv += [key_type, key]
    raise typer.Exit(authkeys_main(argv))
