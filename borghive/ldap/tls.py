"""TLS to the directory, verified by Python's own ssl module rather than by ldap3.

ldap3 turns OpenSSL's hostname check off and matches the name itself, with
``ssl.match_hostname`` or, on Python 3.12 and later where that is gone, a bundled copy
that ignores IP addresses in the certificate's subjectAltName: ``ldaps://10.0.0.5`` would
be refused there although the certificate names ``IP:10.0.0.5``. Here OpenSSL checks the
chain and the name (DNS or IP) during the handshake, as ``ldapsearch`` and Python's other
clients do, on every Python.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ldap3
from ldap3.core import exceptions as ldap_errors

from borghive.errors import ConfigError, DirectoryUnavailableError


def server_context(ca_file: Path | None) -> ssl.SSLContext:
    """A client context that requires a certificate chaining to ``ca_file`` (None: the
    system's CAs) and naming the host it is given at wrap time.

    Raises ConfigError naming ``ldap.ca_file`` when that file cannot be read or holds no
    certificate.
    """
    # PROTOCOL_TLS_CLIENT: hostname check and CERT_REQUIRED (set again below so that no
    # later edit loosens them); TLS 1.2 or later is set here, since the floor it gets is the
    # system OpenSSL's (Debian 13's Python reports MINIMUM_SUPPORTED). Not
    # create_default_context: from Python 3.13 on it adds VERIFY_X509_STRICT, which refuses
    # certificates OpenSSL, ldapsearch and nslcd accept (e.g. one without an Authority Key
    # Identifier) and borghive accepted.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    context.minimum_version = max(context.minimum_version, ssl.TLSVersion.TLSv1_2)
    try:
        if ca_file is None:
            context.load_default_certs(ssl.Purpose.SERVER_AUTH)
        else:
            context.load_verify_locations(cafile=str(ca_file))
    except ssl.SSLError as exc:
        raise ConfigError(f"ldap.ca_file: {ca_file}: no CA certificate: {exc.reason}") from None
    except OSError as exc:
        raise ConfigError(f"ldap.ca_file: {ca_file}: cannot read: {exc.strerror}") from None
    return context


class VerifiedTls(ldap3.Tls):  # type: ignore[misc]  # ldap3 has no type hints
    """ldap3 TLS settings whose sockets are wrapped by ``context`` for ``host``: OpenSSL
    verifies the certificate and the name in the handshake, ldap3's own name check (and
    its ``validate``) are never used. Serves ``ldaps://`` and StartTLS alike.

    ``refused`` is OpenSSL's reason when it refused the server's certificate (ldap3 wraps
    the exception into one whose text is a tuple's repr)."""

    def __init__(self, context: ssl.SSLContext, host: str) -> None:
        super().__init__(validate=ssl.CERT_REQUIRED)
        self.context = context
        self.host = host
        self.refused: str | None = None

    def wrap_socket(self, connection: Any, do_handshake: bool = False) -> None:
        """Replace ``connection.socket`` by its TLS wrapping; raises ssl.SSLError (e.g.
        SSLCertVerificationError) or OSError, which ldap3 turns into its own errors."""
        try:
            connection.socket = self.context.wrap_socket(
                connection.socket,
                server_side=False,
                do_handshake_on_connect=do_handshake,
                server_hostname=self.host,
            )
        except ssl.SSLCertVerificationError as exc:
            self.refused = str(exc.verify_message or exc.reason)
            raise


@contextmanager
def certificate_errors(tls: VerifiedTls | None, where: str) -> Iterator[None]:
    """Turn an ldap3 error raised inside the block because ``tls`` refused the server's
    certificate into DirectoryUnavailableError ``LDAP <where>: server certificate refused:
    <OpenSSL's reason>``; other errors (and all without ``tls``) pass unchanged."""
    try:
        yield
    except ldap_errors.LDAPException:
        if tls is None or tls.refused is None:
            raise
        reason = f"server certificate refused: {tls.refused}"
        raise DirectoryUnavailableError(f"LDAP {where}: {reason}") from None
