"""What ``borghive doctor`` tries in the directory: what ``repo create`` will need, short
of writing. It binds, searches the whole ``ldap.base_dn`` as the uid and uidNumber
collision checks do, and reads both OUs (the entries themselves, and a search below
``users_dn`` as ``repo sync`` lists them). Nothing is written: the write rights (add,
modify, delete under both OUs) are the guide's to list, not doctor's to try.
"""

from __future__ import annotations

import contextlib
import secrets

import ldap3

from borghive.config import LdapConfig
from borghive.errors import ConfigError
from borghive.ldap.accounts import LdapAccounts
from borghive.ldap.connection import RIGHTS_HINT, directory_errors


def probe_directory(config: LdapConfig, group: str, gid_number: int) -> str:
    """Bind, search the base as the collision checks do and read both OUs; return what
    was tried, for the doctor's ok line.

    Raises DirectoryUnavailableError (unreachable) or ConfigError naming the DN and the
    right that was refused.
    """
    accounts = LdapAccounts(config, group, gid_number)
    try:
        # The very searches repo create runs, for names nobody has: they must not fail.
        accounts.name_in_use(f"borghive-doctor-{secrets.token_hex(4)}")
        accounts.uid_in_use(2**31 - 2)
        for dn, what in ((config.users_dn, "repository users"), (config.groups_dn, "groups")):
            _read_entry(accounts, dn, f"reading the OU of the {what}")
        with directory_errors(
            accounts.where, accounts.needs(config.users_dn, "search", "listing repository users")
        ):
            accounts.connection.search(
                config.users_dn, "(objectClass=posixAccount)", ldap3.LEVEL,
                attributes=["1.1"], size_limit=1,
            )  # fmt: skip
    finally:
        with contextlib.suppress(Exception):  # the answer is known; unbinding is a courtesy
            accounts.close()
    who = config.bind_dn or "anonymous"
    return (
        f"{config.url} answers, bound as {who}; may search {config.base_dn} and read "
        f"{config.users_dn} and {config.groups_dn} (writes not tried)"
    )


def _read_entry(accounts: LdapAccounts, dn: str, purpose: str) -> None:
    """The entry at ``dn`` itself is readable; ConfigError naming it otherwise."""
    access = accounts.needs(dn, "read", purpose)
    with directory_errors(accounts.where, access):
        accounts.connection.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["1.1"])
        if not accounts.connection.response:
            who = access.bind_dn or "the anonymous bind"
            raise ConfigError(
                f"LDAP {accounts.where}: read on {dn} refused ({purpose}): the entry is not "
                f"visible to {who}",
                hint=RIGHTS_HINT,
            )
