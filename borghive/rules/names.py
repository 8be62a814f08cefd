"""Validation of the names people give to users, keys and repositories."""

from __future__ import annotations

from borghive.errors import InvalidInputError

MAX_NAME_LENGTH = 64

# ASCII letters, digits, dot, underscore, dash; must start with a letter or digit. Plain
# sets rather than a regular expression: ``authkeys`` uses this and ``re`` costs it ~3 ms.
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_NAME_CHARS = _ALNUM | frozenset("._-")


def check_name(value: str, what: str) -> str:
    """Return ``value`` when it is a safe name for ``what``; raise InvalidInputError otherwise.

    Safe means: 1 to 64 ASCII characters from ``A-Z a-z 0-9 . _ -``, starting with a letter
    or digit, and no ``..``. Such a name is safe as a path component, an LDAP value and a
    word in an sshd forced command.
    """
    problem = name_problem(value)
    if problem:
        raise InvalidInputError(f"invalid {what} name {_shown(value)}: {problem}")
    return value


def name_problem(value: str) -> str | None:
    """Say what is wrong with ``value`` as a name, or None when it is valid."""
    if not value:
        return "empty"
    if len(value) > MAX_NAME_LENGTH:
        return f"longer than {MAX_NAME_LENGTH} characters"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return "contains control characters"
    if not value.isascii():
        return "contains non-ASCII characters"
    if any(ch.isspace() for ch in value):
        return "contains whitespace"
    if "/" in value:
        return "contains '/'"
    if ".." in value:
        return "contains '..'"
    if value.startswith("-"):
        return "starts with '-'"
    if value[0] not in _ALNUM or not set(value) <= _NAME_CHARS:
        return "use only letters, digits, '.', '_' and '-', starting with a letter or digit"
    return None


def _shown(value: str) -> str:
    """A printable, bounded rendering of untrusted input for error messages."""
    shown = value if len(value) <= 70 else value[:67] + "..."
    return repr(shown)


# Paths that go verbatim into sshd forced commands: no spaces, quotes or shell syntax.
_PATH_CHARS = _NAME_CHARS | frozenset("/+")


def path_problem(text: str) -> str | None:
    """Say why ``text`` is unsafe as a path inside an sshd forced command, or None.

    Safe: absolute, only letters, digits and ``. _ - + /``, no ``..`` component.
    """
    if not text.startswith("/"):
        return "not an absolute path"
    if not set(text) <= _PATH_CHARS:
        return "contains characters other than letters, digits and . _ - + /"
    if "/../" in f"{text}/":
        return "contains a '..' component"
    return None


MAX_BORG_NAME_LENGTH = 32
_BORG_NAME_FIRST = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_BORG_NAME_CHARS = _BORG_NAME_FIRST | frozenset("._-")


def borg_name_problem(value: str) -> str | None:
    """Say what is wrong with ``value`` as the name of a borg in ``[borg.versions]``, or
    None: 1 to 32 characters of ``a-z 0-9 . _ -``, starting with a letter or digit (such as
    ``1.4`` or ``borg-1.2``)."""
    if not value:
        return "empty"
    if len(value) > MAX_BORG_NAME_LENGTH:
        return f"longer than {MAX_BORG_NAME_LENGTH} characters"
    if value[0] not in _BORG_NAME_FIRST or not set(value) <= _BORG_NAME_CHARS:
        return "use only a-z 0-9 . _ -, starting with a letter or digit"
    return None
