"""The ``borghive`` console script: the login path bypasses the Typer app.

``borghive [--config PATH] authkeys …`` runs :mod:`borghive.login.authkeys` without importing
typer, rich or the ORM (sshd runs it for every key of every login); every other command
goes to :mod:`borghive.cli.app`.
"""

from __future__ import annotations

import sys


def is_authkeys(argv: list[str]) -> bool:
    """Whether ``argv`` is an authkeys call (not a request for its help)."""
    index = 0
    while index < len(argv) and argv[index].startswith("-"):
        if argv[index] in ("--config", "-c"):
            index += 2
        elif argv[index].startswith("--config="):
            index += 1
        else:
            return False
    rest = argv[index:]
    # Only a lone "authkeys --help" asks for help: in sshd's "authkeys %u %t %k" the user
    # name comes first and may not send the login to Typer, whatever it looks like.
    return bool(rest) and rest[0] == "authkeys" and rest[1:] not in (["--help"], ["-h"])


def main() -> None:
    argv = sys.argv[1:]
    if is_authkeys(argv):
        from borghive.login.authkeys import main as authkeys_main

        sys.exit(authkeys_main(argv))
    from borghive.cli.app import main as cli_main

    cli_main()
