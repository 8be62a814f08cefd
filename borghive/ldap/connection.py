"""Connecting to the directory with ldap3, and turning its exceptions into domain errors."""

from __future__ import annotations

import math
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import ldap3
from ldap3.core import exceptions as ldap_errors

from borghive.config import LdapConfig
from borghive.errors import (
    BorghiveError,
    ConfigError,
    ConflictError,
    DirectoryUnavailableError,
)
from borghive.ldap.tls import VerifiedTls, certificate_errors, server_context
from borghive.login.configfiles import read_secret
from borghive.rules.urls import LDAP_SCHEMES, UrlError, parse_url

# Failures that a later retry may cure: the server is down, slow or went away.
_UNAVAILABLE = (
    ldap_errors.LDAPCommunicationError,
    ldap_errors.LDAPSocketOpenError,
    ldap_errors.LDAPSocketReceiveError,
    ldap_errors.LDAPSocketSendError,
    ldap_errors.LDAPSessionTerminatedByServerError,
    ldap_errors.LDAPResponseTimeoutError,
    ldap_errors.LDAPBusyResult,
    ldap_errors.LDAPUnavailableResult,
    ldap_errors.LDAPTimeLimitExceededResult,
)
# The directory refused an operation on an entry: the entry is missing, or the bind DN
# may not see it (OpenLDAP answers noSuchObject for an entry the ACLs hide) or change it.
_DENIED = (
    ldap_errors.LDAPNoSuchObjectResult,
    ldap_errors.LDAPInsufficientAccessRightsResult,
)
RIGHTS_HINT = "grant the rights the storage-host guide lists (docs/how-to/storage-host.md)"
# Failures that only a configuration change cures.
_MISCONFIGURED = (
    ldap_errors.LDAPInvalidCredentialsResult,
    ldap_errors.LDAPBindError,
    ldap_errors.LDAPInsufficientAccessRightsResult,
    ldap_errors.LDAPStrongerAuthRequiredResult,
    ldap_errors.LDAPConfidentialityRequiredResult,
    ldap_errors.LDAPNoSuchObjectResult,
    ldap_errors.LDAPObjectClassViolationResult,
    ldap_errors.LDAPUndefinedAttributeTypeResult,
    ldap_errors.LDAPInvalidDNSyntaxResult,
    ldap_errors.LDAPInvalidDnError,  # refused by ldap3 itself: a configured DN is malformed
    ldap_errors.LDAPPasswordIsMandatoryError,  # bind_dn without bind_password_file
)


def server_address(url: str) -> tuple[str, int, bool]:
    """(host, port, use_ssl) of an ``ldap://`` or ``ldaps://`` URL; raise ConfigError."""
    try:
        parts = parse_url(url, LDAP_SCHEMES, host_required=False)
    except UrlError as exc:
        raise ConfigError(f"ldap.url: {exc.reason}") from None
    use_ssl = parts.scheme == "ldaps"
    return parts.host or "localhost", parts.port or (636 if use_ssl else 389), use_ssl


@dataclass(frozen=True)
class Access:
    """What an operation needs, for the error when the directory refuses it: the ``right``
    (e.g. "search") on ``dn``, for ``purpose``, as ``bind_dn`` (empty: anonymous)."""

    dn: str
    right: str
    purpose: str
    bind_dn: str


def denied(where: str, access: Access, exc: BaseException) -> ConfigError:
    """The error for an operation the directory refused: which DN, which right, why."""
    who = access.bind_dn or "the anonymous bind"
    if isinstance(exc, ldap_errors.LDAPNoSuchObjectResult):
        why = f"noSuchObject: it does not exist, or {who} may not see it"
    else:
        why = f"insufficientAccessRights: {who} may not"
    return ConfigError(
        f"LDAP {where}: {access.right} on {access.dn} refused ({access.purpose}): {why}",
        hint=RIGHTS_HINT,
    )


@contextmanager
def directory_errors(where: str, access: Access | None = None) -> Iterator[None]:
    """Map ldap3 exceptions raised inside the block to domain errors naming ``where``; a
    refusal (no such object, insufficient rights) names ``access``'s DN and right."""
    try:
        yield
    except BorghiveError:
        raise
    except _DENIED as exc:
        if access is None:
            raise ConfigError(f"LDAP {where}: {_reason(exc)}") from None
        raise denied(where, access, exc) from None
    except ldap_errors.LDAPStartTLSError as exc:
        raise DirectoryUnavailableError(f"LDAP {where}: StartTLS failed: {_reason(exc)}") from None
    except _UNAVAILABLE as exc:
        raise DirectoryUnavailableError(f"LDAP {where}: {_reason(exc)}") from None
    except _MISCONFIGURED as exc:
        raise ConfigError(f"LDAP {where}: {_reason(exc)}") from None
    except ldap_errors.LDAPEntryAlreadyExistsResult as exc:
        raise ConflictError(f"LDAP {where}: entry exists already: {_reason(exc)}") from None
    except (ldap_errors.LDAPException, ssl.SSLError, OSError) as exc:
        raise DirectoryUnavailableError(f"LDAP {where}: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def connect(config: LdapConfig) -> Any:
    """A bound ldap3 Connection per ``config``: StartTLS on ``ldap://`` when configured,
    certificate and host name (or IP address) checked by Python's ssl against ``ca_file``
    (:mod:`borghive.ldap.tls`), connect and operation timeouts applied.

    Raises DirectoryUnavailableError (server unreachable, TLS or certificate failure) or
    ConfigError (bad credentials, unreadable password or CA file).
    """
    host, port, use_ssl = server_address(config.url)
    password = (
        read_secret(config.bind_password_file, "ldap.bind_password_file")
        if config.bind_password_file
        else None
    )
    use_tls = use_ssl or config.start_tls
    # Loading the CAs takes a while (the system store: some 20 ms): only for TLS.
    tls = VerifiedTls(server_context(config.ca_file), host) if use_tls else None
    server = ldap3.Server(
        host,
        port=port,
        use_ssl=use_ssl,
        tls=tls,
        connect_timeout=config.connect_timeout,
        get_info=ldap3.NONE,
    )
    connection = ldap3.Connection(
        server,
        user=config.bind_dn or None,
        password=password,
        auto_bind=ldap3.AUTO_BIND_NONE,
        # ldap3 packs the receive timeout into SO_RCVTIMEO with struct 'LL', which refuses
        # a float (struct.error on every open): whole seconds, rounded up.
        receive_timeout=math.ceil(config.operation_timeout),
        raise_exceptions=True,
        read_only=False,
    )
    with directory_errors(f"{host}:{port}"), certificate_errors(tls, f"{host}:{port}"):
        connection.open()
        if config.start_tls and not use_ssl:
            try:
                connection.start_tls()
            except ldap_errors.LDAPOperationResult as exc:  # e.g. a server without TLS
                raise ldap_errors.LDAPStartTLSError(_reason(exc)) from None
        if not connection.bind():  # pragma: no cover - raise_exceptions makes bind raise
            raise ConfigError(f"LDAP {host}:{port}: bind as {config.bind_dn!r} refused")
    return connection
