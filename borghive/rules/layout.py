"""Where a repository lives and how clients reach it, defined once.

``<repos root>/<repository user>/<repository name>``; the repository user's home is
``<repos root>/<repository user>``; clients use ``ssh://<user>@<host>:<port>/./<name>``
(``/./`` makes the path relative to the home, which ``borg serve --restrict-to-repository``
checks). Text in, text out, and only ``os`` imported: the login path uses this too, for
every key of every login.
"""

from __future__ import annotations

import os

# Not typing.TYPE_CHECKING: importing typing costs the login path milliseconds.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from os import PathLike

ENCRYPTION = "repokey-blake2"


def home_path(root: str | PathLike[str], repo_user: str) -> str:
    """``<root>/<repo user>``: the repository user's home directory."""
    return f"{os.fspath(root).rstrip('/')}/{repo_user}"


def repository_path(root: str | PathLike[str], repo_user: str, name: str) -> str:
    """``<root>/<repo user>/<name>``: the repository directory."""
    return f"{os.fspath(root).rstrip('/')}/{repo_user}/{name}"


def client_url(host: str, port: int, repo_user: str, name: str) -> str:
    """The URL a borg client uses: ``ssh://<repo user>@<host>:<port>/./<name>``."""
    return f"ssh://{repo_user}@{host}:{port}/./{name}"


def init_command(url: str) -> str:
    """The ``borg init`` line a client runs once to create the repository at ``url``."""
    return f"borg init --encryption={ENCRYPTION} {url}"
