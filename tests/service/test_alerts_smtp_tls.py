"""E-mail over STARTTLS and implicit TLS, against real aiosmtpd servers with certificates
from a throwaway CA made with the openssl command.

The notifier verifies servers with ``ssl.create_default_context()``, i.e. against OpenSSL's
default trust store, or only against ``alerts.smtp_ca_file``. Most tests make the test CA
the default store through ``SSL_CERT_FILE`` (``trust_test_ca``), so verification stays on
and is what is tested."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import ssl
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from borghive.config import AlertsConfig, Config, SmtpSecurity
from borghive.delivery import notifier as delivery
from borghive.rules.channels import DeliveryError, Message
from borghive.service.alerts import channels as notify
from borghive.service.alerts import check as alerts
from borghive.store.models import AlertState, Event
from tests.harness.alerts import Clock, Mailbox, _Handler
from tests.harness.environment import missing_service
from tests.harness.net import free_port

from .test_alerts import make_repo

SMTP_USER = "borghive-mailer"
SMTP_PASSWORD = "correct horse battery staple"

# The servers without STARTTLS take AUTH on purpose; aiosmtpd warns about that on each
# connection, in its own thread.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

MESSAGE = Message(subject="Backup overdue: alice/laptop", text="No backup since …\n")

_EXTENSIONS = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""


@dataclass(frozen=True)
class Certificates:
    """PEM files: the trusted test CA, and server (certificate, key) pairs."""

    ca: Path
    server: tuple[Path, Path]  # 127.0.0.1 and localhost, from the trusted CA
    untrusted: tuple[Path, Path]  # the same names, from a CA nobody trusts
    wrong_name: tuple[Path, Path]  # the trusted CA, but for another host name


def _openssl(*args: str | Path, cwd: Path) -> None:
    result = subprocess.run(
        ["openssl", *map(str, args)], cwd=cwd, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def _make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    _openssl(
        "req", "-x509", "-config", "openssl.cnf", "-extensions", "ca",
        "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN=borghive {name}",
        cwd=directory,
    )  # fmt: skip
    return cert, key


def _issue(
    directory: Path, name: str, ca: tuple[Path, Path], names: str, serial: int
) -> tuple[Path, Path]:
    cert, key, request = (directory / f"{name}{suffix}" for suffix in (".pem", ".key", ".csr"))
    extensions = directory / f"{name}.cnf"
    extensions.write_text(_EXTENSIONS + f"subjectAltName = {names}\n")
    _openssl(
        "req", "-new", "-config", "openssl.cnf",
        "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key, "-out", request, "-subj", f"/CN={name}",
        cwd=directory,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", request, "-CA", ca[0], "-CAkey", ca[1],
        "-set_serial", str(serial), "-days", "2", "-out", cert,
        "-extfile", extensions, "-extensions", "server",
        cwd=directory,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    if shutil.which("openssl") is None:
        missing_service("the openssl command is not installed")
    directory = tmp_path_factory.mktemp("tls")
    (directory / "openssl.cnf").write_text(_EXTENSIONS)
    ca = _make_ca(directory, "test-ca")
    rogue = _make_ca(directory, "rogue-ca")
    local = "IP:127.0.0.1, DNS:localhost"
    return Certificates(
        ca=ca[0],
        server=_issue(directory, "server", ca, local, 1),
        untrusted=_issue(directory, "untrusted", rogue, local, 2),
        wrong_name=_issue(directory, "wrong-name", ca, "DNS:mail.example.org", 3),
    )


@pytest.fixture
def trust_test_ca(certificates: Certificates, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make the test CA the process's only trusted CA, as an operator would with a private
    CA. OpenSSL reads the variable each time a default context loads its trust store."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates.ca))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    return certificates.ca


# -- servers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Login:
    mechanism: str
    user: str
    password: str
    tls: str | None  # the TLS version of the connection, None when plain


@dataclass
class TlsMailbox(Mailbox):
    """What a server received, with the TLS version of each message's connection."""

    logins: list[Login] = field(default_factory=list)
    tls: list[str | None] = field(default_factory=list)


def _tls_version(server: Any) -> str | None:
    ssl_object = server.transport.get_extra_info("ssl_object")
    return None if ssl_object is None else str(ssl_object.version())


class _TlsHandler(_Handler):
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        assert isinstance(self.box, TlsMailbox)
        self.box.tls.append(_tls_version(server))
        return await super().handle_DATA(server, session, envelope)


def _server_context(pair: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*pair)
    return context


StartServer = Callable[..., TlsMailbox]


@pytest.fixture
def smtp_server() -> Iterator[StartServer]:
    """Start an aiosmtpd server on 127.0.0.1 that accepts SMTP_USER with SMTP_PASSWORD:
    ``smtp_server(starttls=PAIR)`` offers STARTTLS (and requires it), ``implicit=PAIR``
    speaks TLS from the start, neither is plain SMTP that offers AUTH without TLS."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    controllers: list[Any] = []

    def start(
        *, starttls: tuple[Path, Path] | None = None, implicit: tuple[Path, Path] | None = None
    ) -> TlsMailbox:
        box = TlsMailbox(port=free_port())

        def authenticator(
            server: Any, session: Any, envelope: Any, mechanism: str, data: Any
        ) -> Any:
            login = Login(mechanism, data.login.decode(), data.password.decode(), None)
            box.logins.append(dataclasses.replace(login, tls=_tls_version(server)))
            return AuthResult(success=(login.user, login.password) == (SMTP_USER, SMTP_PASSWORD))

        options: dict[str, Any] = {"authenticator": authenticator, "auth_required": True}
        if starttls is not None:
            options |= {
                "tls_context": _server_context(starttls),
                "require_starttls": True,
                "auth_require_tls": True,
            }
        elif implicit is not None:
            # aiosmtpd only counts STARTTLS as TLS for AUTH; the authenticator records
            # the connection's real TLS version.
            options |= {"ssl_context": _server_context(implicit), "auth_require_tls": False}
        else:  # a server that would take a password in the clear
            options |= {"auth_require_tls": False}
        controller = Controller(_TlsHandler(box), hostname="127.0.0.1", port=box.port, **options)
        controller.start()
        controllers.append(controller)
        return box

    try:
        yield start
    finally:
        for controller in controllers:
            controller.stop()


def settings(tmp_path: Path, box: Mailbox, security: SmtpSecurity) -> AlertsConfig:
    password_file = tmp_path / "smtp-password"
    password_file.write_text(SMTP_PASSWORD + "\n")
    return AlertsConfig(
        smtp_host="127.0.0.1",
        smtp_port=box.port,
        smtp_security=security,
        smtp_user=SMTP_USER,
        smtp_password_file=password_file,
        smtp_timeout=5.0,
        mail_from="borghive@backup.example.org",
    )


def assert_delivered(box: TlsMailbox) -> None:
    [(recipients, mail)] = box.messages
    assert recipients == ["alice@example.org"]
    assert mail["From"] == "borghive@backup.example.org"
    assert mail["To"] == "alice@example.org"
    assert mail["Subject"] == MESSAGE.subject
    assert mail.get_content() == MESSAGE.text
    assert box.logins == [Login(box.logins[0].mechanism, SMTP_USER, SMTP_PASSWORD, "TLSv1.3")]
    assert box.tls == ["TLSv1.3"]


# -- delivery -----------------------------------------------------------------------------------


def test_starttls_delivers_and_logs_in_only_after_the_handshake(
    smtp_server: StartServer, certificates: Certificates, trust_test_ca: Path, tmp_path: Path
) -> None:
    box = smtp_server(starttls=certificates.server)
    delivery.Notifier(settings(tmp_path, box, "starttls")).send(
        "email", "alice@example.org", MESSAGE
    )
    assert_delivered(box)


def test_implicit_tls_delivers_and_logs_in(
    smtp_server: StartServer, certificates: Certificates, trust_test_ca: Path, tmp_path: Path
) -> None:
    box = smtp_server(implicit=certificates.server)
    delivery.Notifier(settings(tmp_path, box, "tls")).send("email", "alice@example.org", MESSAGE)
    assert_delivered(box)


@pytest.mark.parametrize("security", ["starttls", "tls"])
@pytest.mark.parametrize(
    ("pair", "expected"),
    [
        ("untrusted", "unable to get local issuer certificate"),
        ("wrong_name", "IP address mismatch"),
    ],
)
def test_a_certificate_that_does_not_verify_fails_without_a_login(
    smtp_server: StartServer,
    certificates: Certificates,
    trust_test_ca: Path,
    tmp_path: Path,
    security: SmtpSecurity,
    pair: str,
    expected: str,
) -> None:
    served: tuple[Path, Path] = getattr(certificates, pair)
    box = smtp_server(**{"starttls" if security == "starttls" else "implicit": served})
    notifier = delivery.Notifier(settings(tmp_path, box, security))
    with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED") as failure:
        notifier.send("email", "alice@example.org", MESSAGE)
    assert expected in failure.value.reason
    assert failure.value.reason.startswith(f"SMTP 127.0.0.1:{box.port}: ")
    assert box.logins == [] and box.messages == []


def test_the_system_trust_store_alone_does_not_trust_the_test_ca(
    smtp_server: StartServer,
    certificates: Certificates,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without SSL_CERT_FILE the same server fails: the variable, not a disabled check, is
    what lets the other tests through."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    box = smtp_server(starttls=certificates.server)
    with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
        delivery.Notifier(settings(tmp_path, box, "starttls")).send(
            "email", "alice@example.org", MESSAGE
        )
    assert box.logins == [] and box.messages == []


def test_smtp_ca_file_trusts_a_private_ca_without_touching_the_environment(
    smtp_server: StartServer,
    certificates: Certificates,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    box = smtp_server(starttls=certificates.server)
    with_ca = dataclasses.replace(settings(tmp_path, box, "starttls"), smtp_ca_file=certificates.ca)
    delivery.Notifier(with_ca).send("email", "alice@example.org", MESSAGE)
    assert_delivered(box)

    # Only that CA: a server whose certificate another CA signed is refused.
    rogue = smtp_server(starttls=certificates.untrusted)
    with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
        delivery.Notifier(
            dataclasses.replace(settings(tmp_path, rogue, "starttls"), smtp_ca_file=certificates.ca)
        ).send("email", "alice@example.org", MESSAGE)
    assert rogue.logins == [] and rogue.messages == []


@pytest.mark.parametrize("content", [None, "not a certificate\n"])
def test_a_missing_or_bad_smtp_ca_file_fails_the_delivery_naming_it(
    smtp_server: StartServer, certificates: Certificates, tmp_path: Path, content: str | None
) -> None:
    box = smtp_server(starttls=certificates.server)
    ca_file = tmp_path / "smtp-ca.pem"
    if content is not None:
        ca_file.write_text(content)
    broken = dataclasses.replace(settings(tmp_path, box, "starttls"), smtp_ca_file=ca_file)
    with pytest.raises(DeliveryError) as failure:
        delivery.Notifier(broken).send("email", "alice@example.org", MESSAGE)
    assert failure.value.reason.startswith(f"alerts.smtp_ca_file {ca_file}: cannot load: ")
    assert "\n" not in failure.value.reason
    assert box.logins == [] and box.messages == []


def test_starttls_never_falls_back_to_sending_the_password_in_the_clear(
    smtp_server: StartServer, trust_test_ca: Path, tmp_path: Path
) -> None:
    box = smtp_server()  # no STARTTLS, but AUTH offered on the plain connection
    notifier = delivery.Notifier(settings(tmp_path, box, "starttls"))
    with pytest.raises(DeliveryError, match="STARTTLS extension not supported"):
        notifier.send("email", "alice@example.org", MESSAGE)
    assert box.logins == [] and box.messages == []
    # The same server with smtp_security = "none" does take the login: the refusal above
    # is the notifier's, not the server's.
    delivery.Notifier(settings(tmp_path, box, "none")).send("email", "alice@example.org", MESSAGE)
    assert [login.tls for login in box.logins] == [None]


# -- the alert check ----------------------------------------------------------------------------


def test_an_untrusted_server_fails_the_channel_and_it_is_retried_next_run(
    alerts_config: Config,
    clock: Clock,
    smtp_server: StartServer,
    certificates: Certificates,
    trust_test_ca: Path,
    tmp_path: Path,
) -> None:
    make_repo(alerts_config, "alice/laptop", created=clock() - dt.timedelta(days=3))
    notify.add_channel("alice", "email")
    rogue = smtp_server(starttls=certificates.untrusted)
    genuine = smtp_server(starttls=certificates.server)

    def run(box: TlsMailbox) -> alerts.CheckReport:
        config = dataclasses.replace(alerts_config, alerts=settings(tmp_path, box, "starttls"))
        return alerts.check_alerts(config, clock)

    failed = run(rogue)

    [delivery] = failed.deliveries
    assert not delivery.sent and failed.failed == 1
    assert "CERTIFICATE_VERIFY_FAILED" in (delivery.error or "")
    assert rogue.logins == [] and rogue.messages == []
    assert Event.select().where(Event.kind == "alert").count() == 0
    state = AlertState.get()
    assert state.last_sent is None and state.sent_count == 0 and state.failures == 1
    assert "CERTIFICATE_VERIFY_FAILED" in (state.last_error or "")

    retried = run(genuine)  # at once, not after the re-alert interval

    assert [(d.event, d.sent) for d in retried.deliveries] == [("alert", True)]
    assert len(genuine.messages) == 1 and genuine.tls == ["TLSv1.3"]
    assert rogue.messages == []
    state = AlertState.get()
    assert state.last_sent is not None and state.sent_count == 1
    assert Event.select().where(Event.kind == "alert").count() == 1
