"""Repository users as LDAP entries (``accounts.backend = "ldap"``).

Each repository user is ``uid=<name>,<users_dn>`` with the configured structural class,
``posixAccount`` and ``shadowAccount``, and no password; the repository users' group is a
``posixGroup`` under ``groups_dn`` whose ``memberUid`` is kept in step. A locked account
has ``shadowExpire: 1`` (1970-01-02), which pam_ldap refuses. Every DN and filter is built
with ldap3's escaping helpers.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import ldap3
from ldap3.core import exceptions as ldap_errors
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from borghive.config import LdapConfig
from borghive.errors import (
    BorghiveError,
    ConflictError,
    DirectoryUnavailableError,
    NotFoundError,
)
from borghive.ldap.connection import Access, connect, directory_errors, server_address
from borghive.rules.accounts import GECOS_PREFIX, AccountSpec, days_since_epoch

_ACCOUNT_ATTRIBUTES = [
    "uid",
    "uidNumber",
    "gidNumber",
    "homeDirectory",
    "loginShell",
    "gecos",
    "shadowExpire",
]
LOCKED_SHADOW_EXPIRE = 1


def _first(entry: dict[str, Any], name: str) -> Any:
    value = entry.get(name)
    if isinstance(value, list):
        return value[0] if value else None
    return value


class LdapAccounts:
    """The ``ldap`` accounts backend; connects on first use."""

    name = "ldap"

    def __init__(self, config: LdapConfig, group: str, gid_number: int) -> None:
        self.config = config
        self.group = group
        self.gid_number = gid_number
        host, port, _ = server_address(config.url)
        self.where = f"{host}:{port}"
        self._connection: Any = None

    # -- plumbing -------------------------------------------------------------------

    @property
    def connection(self) -> Any:
        if self._connection is None:
            self._connection = connect(self.config)
        return self._connection

    def ready(self) -> None:
        """Connect and bind now."""
        self.connection  # noqa: B018 - the property connects

    def close(self) -> None:
        """Unbind; a connection that broke (slapd killed or hung) is just dropped, so that
        closing never hides the error that ended the command."""
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(ldap_errors.LDAPException, OSError):
                connection.unbind()

    def needs(self, dn: str, right: str, purpose: str) -> Access:
        """What an operation needs, for the error naming it when it is refused."""
        return Access(dn=dn, right=right, purpose=purpose, bind_dn=self.config.bind_dn or "")

    @property
    def base_search(self) -> Access:
        """Searching the whole base: the uid and uidNumber collision checks."""
        return self.needs(
            self.config.base_dn, "search of the subtree", "uid and uidNumber collision checks"
        )

    def user_dn(self, name: str) -> str:
        return f"uid={escape_rdn(name)},{self.config.users_dn}"

    @property
    def group_dn(self) -> str:
        return f"cn={escape_rdn(self.group)},{self.config.groups_dn}"

    def _exists_anywhere(self, search_filter: str) -> bool:
        with directory_errors(self.where, self.base_search):
            try:
                self.connection.search(
                    self.config.base_dn,
                    search_filter,
                    ldap3.SUBTREE,
                    attributes=["1.1"],
                    size_limit=1,
                )
            except ldap_errors.LDAPSizeLimitExceededResult:
                return True
            return bool(self.connection.entries)

    # -- reading --------------------------------------------------------------------

    def uid_in_use(self, uid_number: int) -> bool:
        return self._exists_anywhere(f"(uidNumber={int(uid_number)})")

    def name_in_use(self, name: str) -> bool:
        return self._exists_anywhere(f"(uid={escape_filter_chars(name)})")

    def list_members(self) -> set[str]:
        return self._members()

    def _members(self) -> set[str]:
        with directory_errors(
            self.where, self.needs(self.group_dn, "read", "the repository group's members")
        ):
            try:
                self.connection.search(
                    self.group_dn,
                    "(objectClass=posixGroup)",
                    ldap3.BASE,
                    attributes=["memberUid"],
                )
            except ldap_errors.LDAPNoSuchObjectResult:
                return set()
            if not self.connection.response:
                return set()
            values = self.connection.response[0]["attributes"].get("memberUid", [])
            return {str(v) for v in values}

    def _spec(self, attributes: dict[str, Any], members: set[str]) -> AccountSpec:
        name = str(_first(attributes, "uid"))
        expire = _first(attributes, "shadowExpire")
        locked = expire is not None and 0 < int(expire) <= days_since_epoch()
        return AccountSpec(
            name=name,
            uid_number=int(_first(attributes, "uidNumber") or -1),
            gid_number=int(_first(attributes, "gidNumber") or -1),
            home=Path(str(_first(attributes, "homeDirectory") or "")),
            shell=str(_first(attributes, "loginShell") or ""),
            gecos=str(_first(attributes, "gecos") or ""),
            locked=locked,
            in_group=name in members,
        )

    def get(self, name: str) -> AccountSpec | None:
        with directory_errors(
            self.where, self.needs(self.user_dn(name), "read", "the repository user's entry")
        ):
            try:
                self.connection.search(
                    self.user_dn(name),
                    "(objectClass=posixAccount)",
                    ldap3.BASE,
                    attributes=_ACCOUNT_ATTRIBUTES,
                )
            except ldap_errors.LDAPNoSuchObjectResult:
                return None
            if not self.connection.response:
                return None
            attributes = self.connection.response[0]["attributes"]
        return self._spec(attributes, self._members())

    def list_accounts(self) -> dict[str, AccountSpec]:
        """Entries under ``users_dn`` that borghive made (gecos ``borghive …``), paged."""
        members = self._members()
        search_filter = f"(&(objectClass=posixAccount)(gecos={escape_filter_chars(GECOS_PREFIX)}*))"
        result: dict[str, AccountSpec] = {}
        listing = self.needs(self.config.users_dn, "search", "listing the repository users")
        with directory_errors(self.where, listing):
            for item in self.connection.extend.standard.paged_search(
                self.config.users_dn,
                search_filter,
                ldap3.LEVEL,
                attributes=_ACCOUNT_ATTRIBUTES,
                paged_size=500,
                generator=True,
            ):
                if item.get("type") != "searchResEntry":
                    continue
                spec = self._spec(item["attributes"], members)
                result[spec.name] = spec
        return result

    # -- writing --------------------------------------------------------------------

    def _attributes(self, spec: AccountSpec) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "uid": spec.name,
            "cn": spec.name,
            "uidNumber": spec.uid_number,
            "gidNumber": spec.gid_number,
            "homeDirectory": str(spec.home),
            "loginShell": spec.shell,
            "gecos": spec.gecos,
            "shadowLastChange": days_since_epoch(),
        }
        if spec.locked:
            attributes["shadowExpire"] = LOCKED_SHADOW_EXPIRE
        return attributes

    def create(self, spec: AccountSpec) -> None:
        """Group membership first, then the entry: the entry is what makes the account, so
        a failure at any point leaves no usable half-made account behind."""
        dn = self.user_dn(spec.name)
        added = self._add_member(spec.name)
        adding = self.needs(self.config.users_dn, "add", "creating the repository user")
        try:
            with directory_errors(self.where, adding):
                try:
                    self.connection.add(
                        dn,
                        [self.config.user_object_class, "posixAccount", "shadowAccount"],
                        self._attributes(spec),
                    )
                except ldap_errors.LDAPEntryAlreadyExistsResult:
                    raise ConflictError(f"LDAP {self.where}: {dn} exists already") from None
        except DirectoryUnavailableError:
            # In doubt: slapd may still apply the add. Undoing now could run before it;
            # the service resolves the change later by reading the entry back.
            raise
        except BaseException:
            if added:  # a clash must not take the existing account's membership away
                with contextlib.suppress(BorghiveError):
                    self._remove_member(spec.name)
            raise
        try:
            if self._holders(spec.uid_number) != [dn.lower()]:
                raise ConflictError(
                    f"LDAP {self.where}: uidNumber {spec.uid_number} was taken by another "
                    "entry meanwhile"
                )
        except DirectoryUnavailableError:
            raise
        except BaseException:
            with contextlib.suppress(BorghiveError):
                self.delete(spec.name)
            raise

    def _holders(self, uid_number: int) -> list[str]:
        with directory_errors(self.where, self.base_search):
            self.connection.search(
                self.config.base_dn,
                f"(uidNumber={int(uid_number)})",
                ldap3.SUBTREE,
                attributes=["1.1"],
            )
            return sorted(
                str(item["dn"]).lower()
                for item in self.connection.response
                if item.get("type") == "searchResEntry"
            )

    def _add_member(self, name: str) -> bool:
        """Add ``name`` to the group (made if missing); False when it was a member already."""
        joining = self.needs(self.group_dn, "write", "adding the user to the repository group")
        with directory_errors(self.where, joining):
            try:
                self.connection.modify(self.group_dn, {"memberUid": [(ldap3.MODIFY_ADD, [name])]})
                return True
            except ldap_errors.LDAPAttributeOrValueExistsResult:
                return False
            except ldap_errors.LDAPNoSuchObjectResult:
                pass  # no group yet: made below
        making = self.needs(self.config.groups_dn, "add", "creating the repository group")
        with directory_errors(self.where, making):
            try:
                self.connection.add(
                    self.group_dn,
                    ["posixGroup"],
                    {"cn": self.group, "gidNumber": self.gid_number, "memberUid": [name]},
                )
            except ldap_errors.LDAPEntryAlreadyExistsResult:
                # Another process made the group meanwhile (sync beside create, or two
                # hosts sharing the directory): join it instead.
                return self._add_member(name)
        return True

    def _remove_member(self, name: str) -> None:
        leaving = self.needs(self.group_dn, "write", "removing the user from the group")
        with directory_errors(self.where, leaving):
            try:
                self.connection.modify(
                    self.group_dn, {"memberUid": [(ldap3.MODIFY_DELETE, [name])]}
                )
            except (ldap_errors.LDAPNoSuchAttributeResult, ldap_errors.LDAPNoSuchObjectResult):
                return

    def _delete_entry(self, dn: str) -> None:
        deleting = self.needs(dn, "delete", "deleting the repository user")
        with directory_errors(self.where, deleting):
            try:
                self.connection.delete(dn)
            except ldap_errors.LDAPNoSuchObjectResult:
                return

    def update(self, spec: AccountSpec) -> None:
        changes: dict[str, Any] = {
            key: [(ldap3.MODIFY_REPLACE, [value])]
            for key, value in self._attributes(spec).items()
            if key not in ("uid", "shadowLastChange", "shadowExpire")
        }
        changes["shadowExpire"] = [
            (ldap3.MODIFY_REPLACE, [LOCKED_SHADOW_EXPIRE] if spec.locked else [])
        ]
        self._modify(spec.name, changes)
        self._add_member(spec.name)

    def _modify(self, name: str, changes: dict[str, Any]) -> None:
        """Change an account's entry; NotFoundError when there is none (not ConfigError:
        the directory is reachable and configured, the account is what is missing)."""
        changing = self.needs(self.user_dn(name), "write", "changing the repository user")
        with directory_errors(self.where, changing):
            try:
                self.connection.modify(self.user_dn(name), changes)
            except ldap_errors.LDAPNoSuchObjectResult:
                raise NotFoundError(
                    f"LDAP {self.where}: account {self.user_dn(name)} not found",
                    hint="'borghive repo sync' creates missing accounts",
                ) from None

    def lock(self, name: str) -> None:
        self._modify(name, {"shadowExpire": [(ldap3.MODIFY_REPLACE, [LOCKED_SHADOW_EXPIRE])]})

    def unlock(self, name: str) -> None:
        self._modify(name, {"shadowExpire": [(ldap3.MODIFY_REPLACE, [])]})

    def delete(self, name: str) -> None:
        """The entry first, so the account is gone at once; a membership left behind by a
        failure names no account, and resolution (or ``repo sync``) removes it."""
        self._delete_entry(self.user_dn(name))
        self._remove_member(name)
