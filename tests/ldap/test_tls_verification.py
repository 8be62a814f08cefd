"""The directory's certificate over ``ldaps://`` and StartTLS, to a name and to an IP
address: accepted or refused exactly as Python's own ssl decides, never by ldap3's name
check.

One slapd for the module presents, in turn, certificates from its CA with a DNS SAN only,
an IP SAN only, both, no SAN (CN only) and wrong names. The oracle is Python's ssl itself
(``create_default_context`` + ``wrap_socket(server_hostname=...)`` on the same socket
address), computed here, so nothing about OpenSSL's rules is written into the tests.

ldap3's own check (``ldap3.core.tls.match_hostname``) is replaced for every test of the
module by the copy ldap3 bundles and uses on Python 3.12 and later, wrapped to record its
calls: the tests behave here as on those Pythons, and must see it never called.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ldap3.core.tls
import pytest
from ldap3.utils import tls_backport

from borghive.config import Config
from borghive.errors import ConfigError, DirectoryUnavailableError
from borghive.ldap.connection import connect
from borghive.ldap.tls import server_context
from borghive.service.users import people as users
from tests.harness.certificates import Certificate
from tests.harness.cli import borghive
from tests.harness.config import write_config
from tests.harness.slapd import Slapd, require_openldap

from .helpers import ldap_settings, people, with_ldap

pytestmark = pytest.mark.slapd

# name → (subject CN, subjectAltName entries; empty: no SAN extension)
CERTIFICATES: dict[str, tuple[str, tuple[str, ...]]] = {
    "dns-san": ("localhost", ("DNS:localhost",)),
    "ip-san": ("borghive test server", ("IP:127.0.0.1",)),
    "both-sans": ("localhost", ("IP:127.0.0.1", "DNS:localhost")),
    "cn-only-name": ("localhost", ()),
    "cn-only-address": ("127.0.0.1", ()),
    "wrong-names": ("ldap.example.org", ("DNS:ldap.example.org", "IP:10.0.0.5")),
}
HOSTS = ("127.0.0.1", "localhost")  # both reach slapd on 127.0.0.1
MODES = ("ldaps", "starttls")


@pytest.fixture(scope="module")
def tls_server() -> Iterator[tuple[Slapd, dict[str, Certificate]]]:
    """A slapd of its own (it restarts with each certificate) and the certificates: those
    of CERTIFICATES and ``no-key-ids``."""
    require_openldap(tls=True)
    with Slapd(tls=True) as server:
        issued = {
            name: server.issue_certificate(name, cn=cn, sans=sans)
            for name, (cn, sans) in CERTIFICATES.items()
        }
        issued["no-key-ids"] = server.issue_certificate(
            "no-key-ids", cn="localhost", sans=("IP:127.0.0.1",), key_ids=False
        )
        yield server, issued


@pytest.fixture(autouse=True)
def ldap3_name_check(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """ldap3's name check as on Python >= 3.12, recording the names it is asked about; it
    must never be asked."""
    asked: list[str] = []

    def recording(certificate: Any, hostname: str) -> None:
        asked.append(hostname)
        tls_backport.match_hostname(certificate, hostname)

    monkeypatch.setattr(ldap3.core.tls, "match_hostname", recording)
    yield asked
    assert asked == [], "ldap3's own host name check was used"


def oracle(server: Slapd, host: str, *, own_ca: bool = True, strict: bool = False) -> str | None:
    """None when Python's ssl accepts the certificate ``server`` presents for ``host``
    (trusting only its CA; not ``own_ca``: the system's CAs), else the reason it gives.
    ``strict``: with VERIFY_X509_STRICT, as Python 3.13's default context has it."""
    context = ssl.create_default_context(cafile=str(server.ca_file) if own_ca else None)
    if strict:
        context.verify_flags |= ssl.VERIFY_X509_STRICT
    with socket.create_connection(("127.0.0.1", server.ldaps_port), timeout=5) as sock:
        try:
            with context.wrap_socket(sock, server_hostname=host):
                return None
        except ssl.SSLCertVerificationError as exc:
            return str(exc.verify_message)


def url(server: Slapd, host: str, mode: str) -> str:
    if mode == "ldaps":
        return f"ldaps://{host}:{server.ldaps_port}"
    return f"ldap://{host}:{server.port}"


def borghive_decision(server: Slapd, host: str, mode: str, **overrides: Any) -> str | None:
    """None when borghive connects, binds and is who it bound as; else its error."""
    settings = ldap_settings(
        server, url=url(server, host, mode), start_tls=mode == "starttls", **overrides
    )
    try:
        connection = connect(settings)
    except DirectoryUnavailableError as exc:
        return exc.message
    try:
        assert connection.extend.standard.who_am_i() == f"dn:{server.service_dn}"
        assert connection.tls_started or mode == "ldaps"
    finally:
        connection.unbind()
    return None


@pytest.mark.parametrize("name", CERTIFICATES)
def test_certificate_accepted_or_refused_as_pythons_ssl_decides(
    tls_server: tuple[Slapd, dict[str, Certificate]], name: str
) -> None:
    server, issued = tls_server
    server.use_certificate(issued[name])
    for host in HOSTS:
        expected = oracle(server, host)
        for mode in MODES:
            port = server.ldaps_port if mode == "ldaps" else server.port
            got = borghive_decision(server, host, mode, ca_file=server.ca_file)
            where = f"{name} certificate, {mode} to {host}"
            if expected is None:
                assert got is None, f"{where}: refused, Python's ssl accepts it: {got}"
            else:
                assert got is not None, f"{where}: accepted, Python's ssl says {expected}"
                assert got.startswith(f"LDAP {host}:{port}: "), got
                assert got.endswith(f": server certificate refused: {expected}"), got


def test_the_oracle_tells_names_from_addresses(
    tls_server: tuple[Slapd, dict[str, Certificate]],
) -> None:
    """The cases above mean something: an IP SAN is accepted for its address and not for a
    name, a DNS SAN the other way round, wrong names for neither."""
    server, issued = tls_server
    decided = {}
    for name in ("ip-san", "dns-san", "wrong-names"):
        server.use_certificate(issued[name])
        decided[name] = tuple(oracle(server, host) is None for host in HOSTS)
    assert decided == {
        "ip-san": (True, False),
        "dns-san": (False, True),
        "wrong-names": (False, False),
    }


def test_the_certificates_pass_strict_verification_too(
    tls_server: tuple[Slapd, dict[str, Certificate]],
) -> None:
    """So the oracle decides the same on Python 3.13, whose default context is strict."""
    server, issued = tls_server
    for name in CERTIFICATES:
        server.use_certificate(issued[name])
        assert [oracle(server, host, strict=True) for host in HOSTS] == [
            oracle(server, host) for host in HOSTS
        ], name


@pytest.mark.parametrize("mode", MODES)
def test_a_certificate_without_key_identifiers_is_accepted(
    tls_server: tuple[Slapd, dict[str, Certificate]], mode: str
) -> None:
    """OpenSSL's default verification, as ldapsearch and nslcd do it, accepts a certificate
    without an Authority Key Identifier; Python 3.13's strict default context would not.
    borghive accepted it before and still does, on every Python."""
    server, issued = tls_server
    server.use_certificate(issued["no-key-ids"])
    assert oracle(server, "127.0.0.1", strict=True) is not None
    assert borghive_decision(server, "127.0.0.1", mode, ca_file=server.ca_file) is None


@pytest.mark.parametrize("mode", MODES)
def test_without_the_ca_the_system_store_decides(
    tls_server: tuple[Slapd, dict[str, Certificate]], mode: str
) -> None:
    server, issued = tls_server
    server.use_certificate(issued["both-sans"])
    expected = oracle(server, "127.0.0.1", own_ca=False)
    assert expected is not None  # a throwaway CA is in no system store
    got = borghive_decision(server, "127.0.0.1", mode)  # no ca_file: the system's CAs
    assert got is not None and got.endswith(f"server certificate refused: {expected}"), got


def test_refused_certificate_on_the_command_line(
    store: Config, tls_server: tuple[Slapd, dict[str, Certificate]], tmp_path: Path
) -> None:
    server, issued = tls_server
    server.use_certificate(issued["dns-san"])
    users.add_user("alice")
    config = with_ldap(store, server, url=server.ldaps_url, ca_file=server.ca_file)
    result = borghive(write_config(config, tmp_path / "b.toml"), "repo", "create", "alice/x")
    assert result.exit_code == 75, result.stderr
    reason = oracle(server, "127.0.0.1")
    assert reason is not None
    assert result.stderr.startswith(f"borghive: error: LDAP 127.0.0.1:{server.ldaps_port}: ")
    assert reason in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert people(server) == {}


@pytest.mark.parametrize(
    ("content", "why"),
    [(None, "cannot read: No such file or directory"), ("not PEM\n", "no CA certificate")],
)
def test_unusable_ca_file_is_a_configuration_error(
    tls_server: tuple[Slapd, dict[str, Certificate]],
    tmp_path: Path,
    content: str | None,
    why: str,
) -> None:
    server, _ = tls_server
    ca_file = tmp_path / "ca.pem"
    if content is not None:
        ca_file.write_text(content)
    with pytest.raises(ConfigError) as err:
        connect(ldap_settings(server, url=server.ldaps_url, ca_file=ca_file))
    assert err.value.exit_code == 78
    assert err.value.message.startswith(f"ldap.ca_file: {ca_file}: {why}"), err.value.message


def test_the_context_requires_a_verified_certificate_and_name(
    tls_server: tuple[Slapd, dict[str, Certificate]],
) -> None:
    server, _ = tls_server
    context = server_context(server.ca_file)
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    # OpenSSL's own verification, as ldapsearch and nslcd do it (no VERIFY_X509_STRICT,
    # which Python 3.13's create_default_context adds).
    assert not context.verify_flags & ssl.VERIFY_X509_STRICT
    assert [dict(entry[0] for entry in ca["subject"]) for ca in context.get_ca_certs()] == [
        {"commonName": "borghive test CA"}
    ]
    system = server_context(None)
    assert system.check_hostname and system.verify_mode == ssl.CERT_REQUIRED
