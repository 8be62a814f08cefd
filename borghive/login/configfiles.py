"""Where the configuration lives, and how a file an admin names is read (configuration,
secrets, key files): shared by the strict loader, the login path (which must not import
the loader) and the command-line inputs. Imports nothing but borghive.errors."""

from __future__ import annotations

import os
import stat

from borghive.errors import ConfigError

# Not typing.TYPE_CHECKING, and no collections.abc at run time: the login path imports this.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

DEFAULT_CONFIG = "/etc/borghive/borghive.toml"
CONFIG_ENV = "BORGHIVE_CONFIG"
ENV_PREFIX = "BORGHIVE_"

# The login path's validated copy of the configuration, beside the file (login/cache.py).
LOGIN_CACHE_SUFFIX = ".login-cache"
LOGIN_CACHE_FORMAT = 4
# On a PostgreSQL store, the login snapshot beside the file unless hosts.snapshot names one
# (borghive/service/hosts/snapshot.py).
SNAPSHOT_SUFFIX = ".snapshot"


def has_overrides(environ: Mapping[str, str]) -> bool:
    """Whether any BORGHIVE_* variable other than BORGHIVE_CONFIG changes the values (the
    login copy is then not used, nor written)."""
    return any(k.startswith(ENV_PREFIX) and k != CONFIG_ENV for k in environ)


# What a path that is not a regular file is, in the words messages use.
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class NotRegularFileError(Exception):
    """The path is not a regular file; ``kind`` says what it is ("a directory", …)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class FileTooLargeError(Exception):
    """The file holds more than the reader's limit."""


def _kind(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    return next((kind for test, kind in _KINDS if test(mode)), "not a regular file")


def read_regular(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them, never a wait.

    The path is looked at before it is opened (opening a device can act on it; opening a
    FIFO waits for a writer), opened with ``O_NONBLOCK`` and looked at again on the open
    descriptor (a file swapped meanwhile cannot block either), then read to its end but no
    further than ``limit + 1`` bytes (the size may change after ``fstat``). Raises
    NotRegularFileError, FileTooLargeError, or OSError when it cannot be opened or read."""
    kind = _kind(os.stat(path).st_mode)
    if kind is not None:
        raise NotRegularFileError(kind)
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        status = os.fstat(descriptor)
        kind = _kind(status.st_mode)
        if kind is not None:
            raise NotRegularFileError(kind)
        if status.st_size > limit:
            raise FileTooLargeError
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(descriptor, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(descriptor)
    if size > limit:
        raise FileTooLargeError
    return b"".join(chunks)


# A secret is one line; a larger "secret file" is a mistake (a key store, a log).
MAX_SECRET_BYTES = 64 * 1024


def read_secret(path: str | os.PathLike[str], what: str) -> str:
    """A secret from a file: its first line, stripped. Only a regular file of at most
    :data:`MAX_SECRET_BYTES` is read: it is opened without blocking and checked on the open
    descriptor, so a FIFO or a device named as a secret file is refused at once instead of
    hanging the command (or the login). Raises ConfigError naming the file, never showing
    its content, when it cannot be read, is not a regular file, is too large, is not UTF-8
    or gives nothing."""
    try:
        data = read_regular(path, MAX_SECRET_BYTES)
    except NotRegularFileError:
        raise ConfigError(f"{what}: {path} is not a regular file") from None
    except FileTooLargeError:
        raise ConfigError(f"{what}: {path} is larger than {MAX_SECRET_BYTES} bytes") from None
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read {path}: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{what}: {path} is not UTF-8 text") from None
    secret = text.splitlines()[0].strip() if text else ""
    if not secret:
        raise ConfigError(f"{what}: {path} is empty")
    return secret
