"""The authorized_keys lines of the login path, rebuilt from parts validated here again,
so that nothing stored can smuggle an option or a second line into sshd's input: the key,
its fingerprint (without hashlib), the forced command and the ``from=`` option.
"""

from __future__ import annotations

from borghive.rules.keytypes import KEY_TYPES
from borghive.rules.layout import repository_path
from borghive.rules.names import name_problem, path_problem

# Not typing.TYPE_CHECKING: importing typing costs the login path milliseconds.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from borghive.login.settings import Settings

_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


class AuthKeysError(Exception):
    """Anything that must fail the login closed; the message goes to syslog only."""


class Grant:
    """One row: a key's access to the user's repository (plain class: no dataclass or
    typing import on the login path)."""

    __slots__ = (
        "access_mode",
        "allowed_from",
        "borg_name",
        "key_name",
        "key_type",
        "public_key",
        "quota",
        "repo_mode",
        "repo_name",
    )

    def __init__(
        self,
        repo_name: str,
        repo_mode: str,
        quota: int | None,
        key_type: str,
        public_key: str,
        key_name: str,
        access_mode: str,
        allowed_from: str | None,
        borg_name: str | None = None,
    ) -> None:
        self.repo_name = repo_name
        self.repo_mode = repo_mode
        self.quota = quota
        self.key_type = key_type
        self.public_key = public_key
        self.key_name = key_name
        self.access_mode = access_mode
        self.allowed_from = allowed_from
        # None: borg.path; else a name in [borg.versions]
        self.borg_name = borg_name


def is_base64(blob: str) -> bool:
    """Whether ``blob`` looks like a padded base64 key blob (at least 16 characters)."""
    data = blob.rstrip("=")
    return (
        len(blob) >= 16
        and len(blob) % 4 == 0
        and len(blob) - len(data) <= 2
        and set(data) <= _BASE64_CHARS
    )


def _sha256(data: bytes) -> bytes:
    """SHA-256 without importing hashlib, whose OpenSSL binding costs the login path ~3 ms:
    CPython's own built-in implementation (``_sha256`` up to 3.11, ``_sha2`` from 3.12)."""
    try:
        from _sha256 import sha256  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        try:
            from _sha2 import sha256  # type: ignore[import-not-found,no-redef,unused-ignore]
        except ImportError:
            from hashlib import sha256  # type: ignore[assignment,unused-ignore]
    return bytes(sha256(data).digest())


def key_fingerprint(blob: str) -> str | None:
    """The SHA256 fingerprint of a base64 key blob (as ``ssh-keygen -l`` prints it), or
    None when it is not base64. binascii is built in; the base64 module is not needed."""
    if not is_base64(blob):
        return None
    import binascii

    try:
        raw = binascii.a2b_base64(blob, strict_mode=True)
    except (binascii.Error, ValueError):
        return None
    digest = binascii.b2a_base64(_sha256(raw), newline=False).decode()
    return "SHA256:" + digest.rstrip("=")


def _safe_path(text: str, what: str) -> str:
    if path_problem(text):
        raise AuthKeysError(f"{what} {text[:80]!r} has characters unsafe in a forced command")
    return text


_SOURCE_CHARS = frozenset("0123456789abcdefABCDEF.:/,")


def _source_list(text: str) -> str:
    """A stored ``from=`` list, checked for what could break out of the option: only
    address characters, no empty entry. (Fully validated with ipaddress when it was
    stored, see borghive.rules.sources; that module costs the login path ~4 ms.)"""
    if not text or not set(text) <= _SOURCE_CHARS or "" in text.split(","):
        raise AuthKeysError(f"stored source restriction {text[:60]!r} is malformed")
    return text


def _is_umask(text: str) -> bool:
    return len(text) in (3, 4) and set(text) <= set("01234567") and text[-4:-3] in ("", "0")


def _marker(grant: Grant) -> str:
    """``BORGHIVE_KEY=<fingerprint> exec``: the account's shell runs the forced command, so
    the program it execs (borg serve, rrsync) carries the key that opened the session in
    its environment, where the watch daemon reads it (borghive.sessions.procs). The
    fingerprint is computed from the key sshd matched, so it cannot name another key."""
    fingerprint = key_fingerprint(grant.public_key.partition(" ")[2])
    if fingerprint is None:
        raise AuthKeysError(f"stored key {grant.key_name[:64]!r} is malformed")
    return f"BORGHIVE_KEY={fingerprint} exec"


def _borg(settings: Settings, grant: Grant) -> str:
    """The borg binary that serves the grant's repository: ``borg.path``, or the entry of
    ``[borg.versions]`` the repository names. A name the configuration no longer has fails
    the login closed rather than serving the repository with another borg."""
    if grant.borg_name is None:
        return _safe_path(settings.borg_path, "borg.path")
    path = settings.borg_versions.get(grant.borg_name)
    if path is None:
        raise AuthKeysError(
            f"repository {grant.repo_name[:64]!r} is served by borg"
            f" {grant.borg_name[:40]!r}, which [borg.versions] does not name"
        )
    return _safe_path(path, "borg.versions entry")


def forced_command(settings: Settings, repo_user: str, grant: Grant) -> str | None:
    """The forced command for a grant, or None when the repository mode allows no login.
    Raises AuthKeysError when a part is unsafe or the repository's borg is unknown."""
    path = _safe_path(
        repository_path(settings.repos_root, repo_user, grant.repo_name), "repository path"
    )
    if grant.repo_mode == "borg":
        borg = _borg(settings, grant)
        if not _is_umask(settings.borg_umask):
            raise AuthKeysError("borg.umask is not an octal umask")
        command = (
            f"{_marker(grant)} {borg} serve --umask {settings.borg_umask}"
            f" --restrict-to-repository {path}"
        )
        if grant.access_mode == "append-only":
            command += " --append-only"
        if grant.quota is not None:
            command += f" --storage-quota {int(grant.quota)}"
        return command
    rrsync = _safe_path(settings.rrsync_path, "borg.rrsync_path")
    if grant.repo_mode == "import":
        # rrsync needs the directory; nothing else creates it for rsync (borg init does for
        # borg), and only this host can: the store may serve several storage hosts.
        return f"/bin/mkdir -p -m 0700 {path} && {_marker(grant)} {rrsync} -wo {path}"
    if grant.repo_mode == "export":
        return f"{_marker(grant)} {rrsync} -ro {path}"
    return None


def authorized_line(settings: Settings, repo_user: str, grant: Grant) -> str | None:
    """One authorized_keys line rebuilt from validated parts; None for a disabled mode.

    Raises AuthKeysError when a stored part fails validation (the store was tampered with
    or corrupted): the whole answer is then refused.
    """
    if grant.key_type not in KEY_TYPES:
        raise AuthKeysError(f"stored key type {grant.key_type[:40]!r} is not allowed")
    key_type, _, blob = grant.public_key.partition(" ")
    if key_type != grant.key_type or not is_base64(blob):
        raise AuthKeysError(f"stored key {grant.key_name[:64]!r} is malformed")
    if name_problem(grant.key_name) or name_problem(grant.repo_name):
        raise AuthKeysError("stored key or repository name is malformed")
    if grant.access_mode not in ("full", "append-only"):
        raise AuthKeysError(f"stored access mode {grant.access_mode[:20]!r} is unknown")
    if grant.quota is not None and (type(grant.quota) is not int or grant.quota < 1):
        raise AuthKeysError(f"stored quota {str(grant.quota)[:20]!r} is not a positive integer")
    command = forced_command(settings, repo_user, grant)
    if command is None:
        return None
    options = f'restrict,command="{command}"'
    # "is not None", not truth: an empty stored restriction is invalid, not "no restriction"
    if grant.allowed_from is not None:
        options += f',from="{_source_list(grant.allowed_from)}"'
    return f"{options} {key_type} {blob} {grant.key_name}\n"
