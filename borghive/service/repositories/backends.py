"""Choosing the accounts backend that provisions repository users' system accounts."""

from __future__ import annotations

from borghive.config import Config
from borghive.rules.accounts import AccountsBackend, NoAccounts


def accounts_backend(config: Config) -> AccountsBackend:
    """The backend selected by ``accounts.backend``; it connects on first use."""
    backend = config.accounts.backend
    if backend == "ldap":
        from borghive.ldap.accounts import LdapAccounts

        return LdapAccounts(config.ldap, config.repos.group, config.repos.gid)
    if backend == "local":
        from borghive.local.accounts import LocalAccounts

        return LocalAccounts(config.repos.group, config.repos.gid)
    return NoAccounts()
