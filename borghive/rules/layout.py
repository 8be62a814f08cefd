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


def rsync_remote(host: str, port: int, repo_user: str) -> tuple[str, str]:
    """(rsync's ``-e`` option or "", the remote ``<repo user>@<host>:``) of an import or
    export repository. The forced command (rrsync) puts the client in the repository
    directory, so the remote path is empty."""
    shell = "" if port == 22 else f"-e 'ssh -p {port}' "
    return shell, f"{repo_user}@{host}:"


def client_command(mode: str, host: str, port: int, repo_user: str, name: str) -> str | None:
    """What a client runs first with a repository in ``mode``: ``borg init`` (borg),
    rsync to it (import, write-only) or from it (export, read-only); None when disabled
    (no login is let in) or the mode is unknown. ``SOURCE/`` and ``DESTINATION/`` are the
    client's directories."""
    if mode == "borg":
        return init_command(client_url(host, port, repo_user, name))
    if mode in ("import", "export"):
        shell, remote = rsync_remote(host, port, repo_user)
        if mode == "import":
            return f"rsync -a {shell}SOURCE/ {remote}"
        return f"rsync -a {shell}{remote} DESTINATION/"
    return None
