"""Where the configuration lives and how secret files are read: shared by the strict
loader (borghive/config.py) and the login path (borghive/login/authkeys.py), which must not
import the loader. Imports nothing but borghive.errors."""

from __future__ import annotations

import os
from stat import S_ISREG

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
LOGIN_CACHE_FORMAT = 2


def has_overrides(environ: Mapping[str, str]) -> bool:
    """Whether any BORGHIVE_* variable other than BORGHIVE_CONFIG changes the values (the
    login copy is then not used, nor written)."""
    return any(k.startswith(ENV_PREFIX) and k != CONFIG_ENV for k in environ)


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
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read {path}: {exc.strerror}") from None
    try:
        status = os.fstat(descriptor)
        if not S_ISREG(status.st_mode):
            raise ConfigError(f"{what}: {path} is not a regular file")
        if status.st_size > MAX_SECRET_BYTES:
            raise ConfigError(f"{what}: {path} is larger than {MAX_SECRET_BYTES} bytes")
        data = os.read(descriptor, MAX_SECRET_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read {path}: {exc.strerror}") from None
    finally:
        os.close(descriptor)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{what}: {path} is not UTF-8 text") from None
    secret = text.splitlines()[0].strip() if text else ""
    if not secret:
        raise ConfigError(f"{what}: {path} is empty")
    return secret
