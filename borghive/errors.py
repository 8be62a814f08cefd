"""Domain errors and their exit codes; only ``cli/app.py`` turns them into exits."""

from __future__ import annotations

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 75
EXIT_CONFIG = 78


class BorghiveError(Exception):
    """Base of every error meant for the user.

    ``message`` is written for a person; ``hint`` names a known fix when there is one.
    """

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class NotFoundError(BorghiveError):
    """The named user, key or repository does not exist."""


class ConflictError(BorghiveError):
    """The change clashes with what exists (duplicate, still in use)."""


class InvalidInputError(BorghiveError):
    """A name, key, size or duration given by the user is malformed."""


class RefusedError(BorghiveError):
    """The request is well-formed but not allowed (e.g. deleting data unconfirmed)."""


class ConfigError(BorghiveError):
    """The configuration file or environment is unreadable or invalid."""

    exit_code = EXIT_CONFIG


class StoreOutdatedError(ConfigError):
    """The store's schema is older (or newer) than this code expects."""


class StoreUnavailableError(BorghiveError):
    """The database cannot be reached right now; retrying later may work."""

    exit_code = EXIT_UNAVAILABLE


class DirectoryUnavailableError(BorghiveError):
    """The account directory (LDAP) cannot be reached right now."""

    exit_code = EXIT_UNAVAILABLE
