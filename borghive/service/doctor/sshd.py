"""What sshd runs at login, read from its configuration files: every ``AuthorizedKeysCommand``
with the ``AuthorizedKeysCommandUser`` in force for it, and, for a borghive command, the
program and the configuration file its command line names.

sshd_config(5): keywords are case-insensitive, arguments follow after white space or one
``=``, ``#`` starts a comment, ``Include`` takes paths and globs (relative ones below
``/etc/ssh``), the first value of a keyword wins, and a ``Match`` block runs to the next
``Match`` or the end of its file. That is what this reads; it does not evaluate which
connections a ``Match`` selects (``sshd -T -C`` does, and needs a real user).
"""

from __future__ import annotations

import glob
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from borghive.errors import InvalidInputError
from borghive.inputs import read_input
from borghive.login.authkeys import parse_arguments
from borghive.login.configfiles import DEFAULT_CONFIG
from borghive.login.lines import AuthKeysError

DEFAULT_SSHD_CONFIG = Path("/etc/ssh/sshd_config")
_SSH_DIR = Path("/etc/ssh")
_MAX_DEPTH = 16  # sshd's own limit on nested Include
MAX_SSHD_CONFIG = 1024 * 1024  # bytes per file; sshd's own files are a few KiB
_KEYWORD = re.compile(r"([A-Za-z]+)(?:\s*=\s*|\s+|$)(.*)")


@dataclass(frozen=True)
class KeyCommand:
    """One ``AuthorizedKeysCommand``: its text, the user it runs as (None: not set), the
    file that sets it and the ``Match`` line it is under (None: global)."""

    command: str
    user: str | None
    file: Path
    match: str | None


@dataclass(frozen=True)
class LoginTarget:
    """A borghive ``authkeys`` command line: the program and the configuration file it
    reads (the default file when the line names none)."""

    program: Path
    config_file: Path
    user: str | None
    where: str


class SshdConfigError(Exception):
    """The configuration cannot be read; the message names the file."""


def _lines(path: Path, depth: int) -> list[tuple[Path, str, str]]:
    """(file, keyword lowercased, arguments) of ``path`` and what it includes, in order; a
    ``match`` entry marks where a block starts and ``endfile`` where an included file ends."""
    if depth > _MAX_DEPTH:
        raise SshdConfigError(f"{path}: Include nested more than {_MAX_DEPTH} deep")
    try:
        data = read_input(str(path), what="sshd configuration", limit=MAX_SSHD_CONFIG)
    except InvalidInputError as exc:
        raise SshdConfigError(exc.message) from None
    text = data.decode("utf-8", errors="replace")
    found: list[tuple[Path, str, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parsed = _KEYWORD.match(line)
        if parsed is None:
            continue
        keyword, rest = parsed.group(1).lower(), parsed.group(2).strip()
        if keyword == "include":
            for pattern in shlex.split(rest):
                full = pattern if pattern.startswith("/") else str(_SSH_DIR / pattern)
                for included in sorted(glob.glob(full)):
                    found.extend(_lines(Path(included), depth + 1))
                    found.append((Path(included), "endfile", ""))
            continue
        found.append((path, keyword, rest))
    return found


def key_commands(path: Path = DEFAULT_SSHD_CONFIG) -> list[KeyCommand]:
    """Every ``AuthorizedKeysCommand`` set in ``path`` (and its includes), each with the
    user in force for it: the one of its own block, else the global one. Raises
    SshdConfigError when a file cannot be read."""
    global_block = _Block(None, path)
    blocks, current = [global_block], global_block
    for file, keyword, rest in _lines(path, 0):
        if keyword == "match":
            current = _Block(f"Match {rest}", file)
            blocks.append(current)
        elif keyword == "endfile":
            if current.match is not None and current.file == file:
                current = global_block  # a Match block ends with its file
        elif keyword in ("authorizedkeyscommand", "authorizedkeyscommanduser"):
            current.values.setdefault(keyword, (rest, file))
    default_user = global_block.values.get("authorizedkeyscommanduser")
    commands = []
    for block in blocks:
        if "authorizedkeyscommand" not in block.values:
            continue
        command, file = block.values["authorizedkeyscommand"]
        user = block.values.get("authorizedkeyscommanduser", default_user)
        commands.append(KeyCommand(command, None if user is None else user[0], file, block.match))
    return commands


class _Block:
    """The settings of the global part or of one ``Match`` block: first value wins."""

    def __init__(self, match: str | None, file: Path) -> None:
        self.match, self.file = match, file
        self.values: dict[str, tuple[str, Path]] = {}


def login_target(command: KeyCommand) -> LoginTarget | None:
    """The borghive ``authkeys`` call in ``command``, or None when it runs something else.
    Raises SshdConfigError when it is borghive's but sshd's call would be refused (no
    ``%u`` first, an unknown option, quotes that do not close)."""
    where = f"{command.file}" + (f" ({command.match})" if command.match else "")
    try:
        words = shlex.split(command.command)
    except ValueError:
        raise SshdConfigError(f"{where}: AuthorizedKeysCommand has unbalanced quotes") from None
    if "authkeys" not in words[1:]:
        return None
    try:
        config, user, _, _ = parse_arguments(words[1:])
    except AuthKeysError as exc:
        raise SshdConfigError(f"{where}: {command.command!r}: {exc}") from None
    if user != "%u":
        raise SshdConfigError(f"{where}: the user argument of authkeys must be %u, not {user!r}")
    return LoginTarget(Path(words[0]), Path(config or DEFAULT_CONFIG), command.user, where)
