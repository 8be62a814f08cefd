"""Helpers of the LDAP accounts tests: configurations pointing at a test slapd, what the
directory holds as plain ``ldapsearch`` (bound as the root DN) sees it, and LDIF for
entries borghive did not make."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from borghive.config import AccountsConfig, Config, LdapConfig
from borghive.ldap.accounts import LdapAccounts
from borghive.rules.accounts import AccountSpec
from tests.harness.slapd import Slapd

GROUP = "borgrepos"
GID = 200000


def ldap_settings(slapd: Slapd, **overrides: Any) -> LdapConfig:
    """An LdapConfig for ``slapd`` bound as its service account, plain LDAP, short timeouts."""
    values: dict[str, Any] = {
        "url": slapd.url,
        "start_tls": False,
        "bind_dn": slapd.service_dn,
        "bind_password_file": slapd.service_password_file,
        "base_dn": slapd.suffix,
        "users_dn": slapd.people_dn,
        "groups_dn": slapd.groups_dn,
        "connect_timeout": 2.0,
        "operation_timeout": 5.0,
    }
    values.update(overrides)
    return LdapConfig(**values)


def with_ldap(config: Config, slapd: Slapd, **overrides: Any) -> Config:
    """``config`` with ``accounts.backend = "ldap"`` against ``slapd``."""
    return dataclasses.replace(
        config,
        accounts=AccountsConfig(backend="ldap"),
        ldap=ldap_settings(slapd, **overrides),
    )


def backend_for(config: Config) -> LdapAccounts:
    """The LDAP backend the service layer would get for ``config``."""
    return LdapAccounts(config.ldap, config.repos.group, config.repos.gid)


def spec(name: str = "r1234abcd", uid_number: int = 200001, **changes: Any) -> AccountSpec:
    """The account of repository alice/photos with user ``name``."""
    values: dict[str, Any] = {
        "name": name,
        "uid_number": uid_number,
        "gid_number": GID,
        "home": Path(f"/repos/{name}"),
        "shell": "/bin/sh",
        "gecos": "borghive alice/photos",
    }
    values.update(changes)
    return AccountSpec(**values)


def people(slapd: Slapd) -> dict[str, dict[str, list[str]]]:
    """Every entry directly under ou=people, by uid, as ldapsearch shows it."""
    return {
        entry["uid"][0]: entry
        for entry in slapd.ldapsearch(slapd.people_dn, "(objectClass=*)", "*", scope="one")
    }


def entry(slapd: Slapd, name: str) -> dict[str, list[str]] | None:
    """``uid=<name>,ou=people`` with all user attributes, or None."""
    return people(slapd).get(name)


def group(slapd: Slapd) -> dict[str, list[str]] | None:
    """The repository users' group ``cn=borgrepos,ou=groups``, or None."""
    found = slapd.ldapsearch(slapd.groups_dn, f"(cn={GROUP})", scope="one")
    return found[0] if found else None


def members(slapd: Slapd) -> set[str]:
    """The memberUid values of the repository users' group (empty without the group)."""
    found = group(slapd)
    return set(found.get("memberUid", [])) if found else set()


def posix_ldif(
    dn: str, name: str, uid_number: int, gecos: str | None = None, shell: str = "/bin/sh"
) -> str:
    """One posixAccount entry as LDIF (``gecos`` left out when None)."""
    lines = [
        f"dn: {dn}",
        "objectClass: account",
        "objectClass: posixAccount",
        "objectClass: shadowAccount",
        f"uid: {name}",
        f"cn: {name}",
        f"uidNumber: {uid_number}",
        f"gidNumber: {GID}",
        f"homeDirectory: /repos/{name}",
        f"loginShell: {shell}",
    ]
    if gecos is not None:
        lines.append(f"gecos: {gecos}")
    return "\n".join(lines) + "\n"
