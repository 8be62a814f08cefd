"""A throwaway OpenLDAP server for tests: Debian's ``slapd`` on 127.0.0.1 at a free port.

``Slapd`` writes a ``slapd.conf`` into a fresh temporary directory (core, cosine, nis and
inetorgperson schemas; one ``mdb`` database for ``dc=example,dc=org``), starts
``slapd -d 0`` in the foreground in its own session, waits until an anonymous search of
the root DSE answers, and loads the base entries::

    dc=example,dc=org
      ou=people      posixAccount/shadowAccount entries; the service account writes here
      ou=groups      posixGroup entries; the service account writes here
      ou=services    cn=borghive: the service account (simpleSecurityObject)
      ou=others      entries of somebody else: the service account may only read them

The root DN (``cn=admin,dc=example,dc=org``) and the service DN each get a random
password, also written (without a newline, mode 0600) to a file for ``ldap* -y``.
slapd's default size limit of 500 entries is kept for every DN except the root DN (slapd
never limits the root DN), so code that reads more entries as a normal DN must page; the
total of a paged search is not limited (``size.prtotal=unlimited``), as on common servers.

With ``tls=True`` a throwaway CA and a server certificate for ``127.0.0.1``/``localhost``
are made with ``openssl`` (``tests/harness/certificates.py``), slapd offers StartTLS on
``url`` and listens for ``ldaps://`` on ``ldaps_url`` too; ``ca_file`` names the CA
certificate. ``issue_certificate()`` makes another server certificate from that CA (chosen
CN and subjectAltName) and ``use_certificate()`` restarts slapd presenting it.

``stop()`` (or leaving the ``with`` block) ends slapd and removes the temporary directory;
``kill()`` and ``restart()`` crash and start it on the same data; ``pause()`` (SIGSTOP) and
``resume()`` freeze it and let it go on, waiting until it has dealt with what its clients
sent meanwhile.

Fixtures: ``slapd`` is the plain server (no TLS), started once per session; ``clean_slapd``
is the same server reset before and after the test (ou=people, ou=groups and ou=others
emptied, a killed slapd restarted); ``slapd_tls`` is a second server that offers StartTLS
with a throwaway CA (``slapd_tls.ca_file``), started the first time a test asks for it.
Without slapd and ldap-utils these skip locally and fail under ``CI=true``.
The ``ldapsearch``/``ldapadd``/``ldapmodify``/``ldapdelete`` helpers run the OpenLDAP
client programs bound as the root DN, so they see and change everything.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pytest

from tests.harness.certificates import Certificate, issue, make_ca
from tests.harness.environment import missing_service
from tests.harness.net import free_port

SLAPD = "/usr/sbin/slapd"
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")
SCHEMAS = ("core", "cosine", "nis", "inetorgperson")
CLIENT_PROGRAMS = ("ldapsearch", "ldapadd", "ldapmodify", "ldapdelete", "slappasswd")

SUFFIX = "dc=example,dc=org"
ROOT_DN = f"cn=admin,{SUFFIX}"
PEOPLE_DN = f"ou=people,{SUFFIX}"
GROUPS_DN = f"ou=groups,{SUFFIX}"
SERVICES_DN = f"ou=services,{SUFFIX}"
OTHERS_DN = f"ou=others,{SUFFIX}"
SERVICE_DN = f"cn=borghive,{SERVICES_DN}"
SIZE_LIMIT = 500  # slapd's default, kept on purpose

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
COMMAND_TIMEOUT = 60.0


def missing_programs(*, tls: bool = False) -> list[str]:
    """The programs the harness needs that are not installed (empty when ready); ``tls``:
    openssl too."""
    missing = [] if os.access(SLAPD, os.X_OK) else [SLAPD]
    programs = (*CLIENT_PROGRAMS, "openssl") if tls else CLIENT_PROGRAMS
    missing += [name for name in programs if shutil.which(name) is None]
    if not (MODULE_DIR / "back_mdb.so").exists():
        missing.append(str(MODULE_DIR / "back_mdb.so"))
    return missing


def parse_ldif(text: str) -> list[dict[str, list[str]]]:
    """Entries of ``ldapsearch -LLL`` output: ``{"dn": [dn], attribute: [values...]}``.

    Folded lines (continued by a leading space) are joined and ``attr:: base64`` values
    decoded (UTF-8; undecodable bytes are kept as surrogate escapes)."""
    entries: list[dict[str, list[str]]] = []
    current: dict[str, list[str]] = {}
    lines: list[str] = []
    for raw in text.splitlines():
        if raw.startswith(" ") and lines:
            lines[-1] += raw[1:]
        else:
            lines.append(raw)
    for line in lines:
        if not line.strip():
            if current:
                entries.append(current)
                current = {}
            continue
        if line.startswith("#"):
            continue
        name, sep, rest = line.partition(":")
        if not sep:
            raise ValueError(f"not an LDIF line: {line!r}")
        if rest.startswith(":"):
            value = base64.b64decode(rest[1:].strip()).decode("utf-8", "surrogateescape")
        else:
            value = rest.removeprefix(" ")
        current.setdefault(name, []).append(value)
    if current:
        entries.append(current)
    return entries


class LdapToolError(RuntimeError):
    """An OpenLDAP client program failed; ``returncode`` is its exit status (an LDAP result
    code, e.g. 32 noSuchObject, 50 insufficientAccessRights, 68 entryAlreadyExists)."""

    def __init__(self, command: list[str], returncode: int, output: str) -> None:
        super().__init__(f"{command[0]} exited {returncode}: {output.strip()}")
        self.returncode = returncode
        self.output = output


class Slapd:
    """One throwaway slapd: ``with Slapd() as server: ...`` or ``start()``/``stop()``."""

    suffix = SUFFIX
    root_dn = ROOT_DN
    people_dn = PEOPLE_DN
    groups_dn = GROUPS_DN
    services_dn = SERVICES_DN
    others_dn = OTHERS_DN
    service_dn = SERVICE_DN
    size_limit = SIZE_LIMIT

    def __init__(
        self, *, tls: bool = False, anonymous_read: bool = False, service_acl: str | None = None
    ) -> None:
        """``tls``: offer StartTLS with a throwaway CA. ``anonymous_read``: anonymous
        clients may read the tree (passwords excepted); otherwise they may only read the
        root DSE and the schema, and bind. ``service_acl``: slapd.conf ``access`` lines
        that alone decide what the service account may do (placed first; everything the
        default rules would give it is taken away), e.g. the rights a guide lists."""
        self.tls = tls
        self.anonymous_read = anonymous_read
        self.service_acl = service_acl
        self._dir: Path | None = None
        self._port = 0
        self._ldaps_port = 0
        self._certificate: Certificate | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self.password = ""
        self.service_password = ""
        self._service_hash = ""

    # -- where it is ------------------------------------------------------------------

    @property
    def directory(self) -> Path:
        """The temporary directory: slapd.conf, data/, passwords, tls/, slapd.log."""
        if self._dir is None:
            raise RuntimeError("slapd was not started (or was stopped)")
        return self._dir

    @property
    def port(self) -> int:
        self._require_started()
        return self._port

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_port(self) -> int:
        """The ``ldaps://`` port (``tls=True`` only)."""
        self._require_started()
        if not self.tls:
            raise RuntimeError("this slapd was started without tls=True")
        return self._ldaps_port

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.ldaps_port}"

    @property
    def password_file(self) -> Path:
        """The root DN's password, no newline, mode 0600 (for ``ldap* -y``)."""
        return self.directory / "root.password"

    @property
    def service_password_file(self) -> Path:
        """The service DN's password, no newline, mode 0600."""
        return self.directory / "service.password"

    @property
    def ca_file(self) -> Path:
        """The CA certificate that signed the server certificate (``tls=True`` only)."""
        if not self.tls:
            raise RuntimeError("this slapd was started without tls=True")
        return self.directory / "tls" / "ca.crt"

    @property
    def log_file(self) -> Path:
        """slapd's stdout and stderr."""
        return self.directory / "slapd.log"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- life cycle -------------------------------------------------------------------

    def __enter__(self) -> Slapd:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Slapd:
        """Set up a new temporary directory, start slapd and load the base entries."""
        if self._dir is not None:
            raise RuntimeError("slapd is already started")
        missing = missing_programs(tls=self.tls)
        if missing:
            raise RuntimeError(f"OpenLDAP programs missing: {', '.join(missing)}")
        self._dir = Path(tempfile.mkdtemp(prefix="borghive-slapd-"))
        try:
            self.password = secrets.token_urlsafe(18)
            self.service_password = secrets.token_urlsafe(18)
            _write_secret(self.password_file, self.password)
            _write_secret(self.service_password_file, self.service_password)
            self._service_hash = self._hash(self.service_password_file)
            (self.directory / "data").mkdir(mode=0o700)
            if self.tls:
                make_ca(self.directory / "tls")
                self._certificate = self.issue_certificate(
                    "server", cn="localhost", sans=("IP:127.0.0.1", "DNS:localhost")
                )
            self._write_config()
            # A free port can be taken by someone else before slapd binds it: try again.
            for attempt in range(3):
                self._port = free_port()
                self._ldaps_port = self._free_second_port() if self.tls else 0
                try:
                    self._launch()
                    break
                except _PortTaken:
                    if attempt == 2:
                        raise
            self.ldapadd(self._base_ldif())
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """SIGTERM slapd (SIGKILL after 10 s) and remove the temporary directory."""
        self._terminate()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def kill(self) -> None:
        """SIGKILL slapd, as a crash would; the data stay for ``restart()``."""
        process = self._process
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        self._process = None

    def pause(self) -> None:
        """SIGSTOP slapd: the kernel still accepts connections and requests, slapd answers
        none of them until ``resume()``."""
        self._require_started()
        if self._process is not None:
            os.kill(self._process.pid, signal.SIGSTOP)

    def resume(self, timeout: float = 10.0) -> None:
        """SIGCONT slapd, then wait until it has closed every connection its clients
        closed meanwhile (none left in CLOSE_WAIT on its port): the requests they sent
        are carried out, or dropped, by then."""
        self._require_started()
        if self._process is None:
            return
        os.kill(self._process.pid, signal.SIGCONT)
        deadline = time.monotonic() + timeout
        while _close_waits(self._port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"slapd kept connections in CLOSE_WAIT for {timeout}s")
            time.sleep(0.02)

    def restart(self) -> None:
        """Stop slapd if running (SIGTERM) and start it again: same port, same data."""
        self._require_started()
        self._terminate()
        self._launch()

    def issue_certificate(
        self, name: str, *, cn: str, sans: tuple[str, ...], key_ids: bool = True
    ) -> Certificate:
        """A server certificate signed by this slapd's CA (``tls=True`` only), for subject
        ``CN=cn`` with subjectAltName ``sans`` such as ``"IP:127.0.0.1"`` (empty: none);
        not ``key_ids``: without key identifiers (see ``certificates.issue``)."""
        return issue(self.ca_file.parent, name, cn=cn, sans=sans, key_ids=key_ids)

    def use_certificate(self, certificate: Certificate) -> None:
        """Restart slapd (same ports, same data) presenting ``certificate`` for StartTLS
        and ``ldaps://``."""
        self._require_started()
        if not self.tls:
            raise RuntimeError("this slapd was started without tls=True")
        if certificate != self._certificate:
            self._certificate = certificate
            self._write_config()
            self.restart()

    def reset(self) -> None:
        """Back to the state after ``start()``: slapd running (restarted if it was killed),
        ou=people, ou=groups and ou=others empty, base entries and passwords restored."""
        if not self.running:
            self.restart()
        children = [
            entry["dn"][0]
            for base in (self.people_dn, self.groups_dn, self.others_dn)
            for entry in self._search_if_exists(base, "(objectClass=*)", "1.1", scope="one")
        ]
        if children:
            self.ldapdelete(*children, recursive=True)
        present = {
            entry["dn"][0].lower()
            for entry in self._search_if_exists(self.suffix, "(objectClass=*)", "1.1")
        }
        missing = [
            chunk
            for chunk in self._base_ldif().split("\n\n")
            if chunk.splitlines()[0].removeprefix("dn: ").lower() not in present
        ]
        if missing:
            self.ldapadd("\n\n".join(missing))
        self.ldapmodify(
            f"dn: {self.service_dn}\nchangetype: modify\nreplace: userPassword\n"
            f"userPassword: {self._service_hash}\n"
        )

    # -- client programs, bound as the root DN ------------------------------------------

    def ldapsearch(
        self, base: str, filter: str = "(objectClass=*)", *attrs: str, scope: str = "sub"
    ) -> list[dict[str, list[str]]]:
        """Entries below ``base`` matching ``filter`` (all user attributes unless ``attrs``
        are named), each ``{"dn": [dn], attribute: [values...]}``. Not size-limited."""
        output = self._client(
            "ldapsearch", "-LLL", "-o", "ldif-wrap=no", "-s", scope, "-b", base, filter, *attrs
        )
        return parse_ldif(output)

    def ldapadd(self, ldif: str) -> None:
        """Add the entries of ``ldif`` (one ldapadd run; stops at the first error)."""
        self._client("ldapadd", input=ldif)

    def ldapmodify(self, ldif: str) -> None:
        """Apply LDIF change records (``changetype: modify`` ...)."""
        self._client("ldapmodify", input=ldif)

    def ldapdelete(self, dn: str, *more: str, recursive: bool = False) -> None:
        """Delete entries; ``recursive`` deletes their subtrees too (``ldapdelete -r``)."""
        # One DN a line; ldapdelete drops the last character of every line read from stdin,
        # so a final line without its newline would lose a character of its DN.
        dns = "".join(f"{name}\n" for name in (dn, *more))
        self._client("ldapdelete", *(["-r"] if recursive else []), input=dns)

    # -- internals --------------------------------------------------------------------

    def _require_started(self) -> None:
        if self._dir is None:
            raise RuntimeError("slapd was not started (or was stopped)")

    def _client(self, program: str, *args: str, input: str | None = None) -> str:
        command = [
            program, "-x", "-H", self.url, "-D", self.root_dn, "-y", str(self.password_file),
            *args,
        ]  # fmt: skip
        result = subprocess.run(
            command,
            input=input,
            capture_output=True,
            text=True,
            env=_client_environment(),
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            raise LdapToolError(command, result.returncode, result.stderr + result.stdout)
        return result.stdout

    def _search_if_exists(
        self, base: str, filter: str, *attrs: str, scope: str = "sub"
    ) -> list[dict[str, list[str]]]:
        try:
            return self.ldapsearch(base, filter, *attrs, scope=scope)
        except LdapToolError as error:
            if error.returncode == 32:  # noSuchObject
                return []
            raise

    def _hash(self, secret_file: Path) -> str:
        result = subprocess.run(
            ["slappasswd", "-n", "-h", "{SSHA}", "-T", str(secret_file)],
            capture_output=True, text=True, check=True, timeout=COMMAND_TIMEOUT,
        )  # fmt: skip
        return result.stdout.strip()

    def _base_ldif(self) -> str:
        def unit(dn: str, name: str, description: str) -> str:
            return (
                f"dn: {dn}\nobjectClass: organizationalUnit\nou: {name}\ndescription: {description}"
            )

        return "\n\n".join([
            f"dn: {self.suffix}\nobjectClass: dcObject\nobjectClass: organization\n"
            "dc: example\no: Example",
            unit(self.people_dn, "people", "accounts; the service account writes here"),
            unit(self.groups_dn, "groups", "groups; the service account writes here"),
            unit(self.services_dn, "services", "service accounts"),
            unit(self.others_dn, "others", "somebody else's entries: read-only for services"),
            f"dn: {self.service_dn}\nobjectClass: organizationalRole\n"
            "objectClass: simpleSecurityObject\ncn: borghive\n"
            "description: borghive's service account (tests)\n"
            f"userPassword: {self._service_hash}",
        ]) + "\n"  # fmt: skip

    def _write_config(self) -> None:
        directory = self.directory
        service = f'dn.exact="{self.service_dn}"'
        readers = "*" if self.anonymous_read else "users"
        # With service_acl, the default rules give the service account nothing.
        writes, reads = ("write", "read") if self.service_acl is None else ("none", "none")
        lines = [f"include {SCHEMA_DIR / name}.schema" for name in SCHEMAS]
        lines += [
            f"pidfile {directory / 'slapd.pid'}",
            f"argsfile {directory / 'slapd.args'}",
            f"modulepath {MODULE_DIR}",
            "moduleload back_mdb",
            # Keep the default limit of 500 entries (both soft and hard), but let a paged
            # search return everything: by default the hard limit caps its total too.
            f"sizelimit size.soft={SIZE_LIMIT} size.hard={SIZE_LIMIT} size.prtotal=unlimited",
        ]
        if self.tls and self._certificate is not None:
            lines += [
                f"TLSCACertificateFile {self.ca_file}",
                f"TLSCertificateFile {self._certificate.certificate}",
                f"TLSCertificateKeyFile {self._certificate.key}",
            ]
        lines += [
            'access to dn.base="" by * read',
            'access to dn.base="cn=Subschema" by * read',
            "",
            "database mdb",
            f'suffix "{self.suffix}"',
            f'rootdn "{self.root_dn}"',
            f"rootpw {self._hash(self.password_file)}",
            f"directory {directory / 'data'}",
            f"maxsize {256 * 1024 * 1024}",
            "dbnosync",
            "index objectClass eq",
            "index uid,uidNumber,gidNumber,memberUid,cn eq",
            *(self.service_acl or "").splitlines(),
            # Passwords: the service account sets them in ou=people, people change their
            # own, anonymous clients may only bind with them.
            f'access to dn.children="{self.people_dn}" attrs=userPassword',
            f"    by {service} {writes}",
            "    by self write",
            "    by anonymous auth",
            "    by * none",
            "access to attrs=userPassword",
            "    by anonymous auth",
            "    by * none",
        ]
        for area in (self.people_dn, self.groups_dn):
            lines += [
                f'access to dn.base="{area}" attrs=children',
                f"    by {service} {writes}",
                f"    by {readers} read",
                f'access to dn.children="{area}"',
                f"    by {service} {writes}",
                f"    by {readers} read",
            ]
        lines += ["access to *", f"    by {service} {reads}", f"    by {readers} read"]
        config = directory / "slapd.conf"
        config.write_text("\n".join(lines) + "\n")
        config.chmod(0o600)

    def _free_second_port(self) -> int:
        while (port := free_port()) == self._port:
            pass
        return port

    def _launch(self) -> None:
        """Start slapd on ``self._port`` (and ``self._ldaps_port`` with TLS) and wait until
        the root DSE answers."""
        listen = f"ldap://127.0.0.1:{self._port}/"
        if self.tls:
            listen += f" ldaps://127.0.0.1:{self._ldaps_port}/"
        log = open(self.log_file, "ab")  # noqa: SIM115 - handed to the child process
        log_start = log.tell()
        try:
            self._process = subprocess.Popen(
                [SLAPD, "-f", str(self.directory / "slapd.conf"),
                 "-h", listen, "-d", "0"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_die_with_parent,
            )  # fmt: skip
        finally:
            log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                with open(self.log_file, "rb") as handle:
                    handle.seek(log_start)
                    text = handle.read().decode(errors="replace")
                if "Address already in use" in text:
                    raise _PortTaken(
                        f"port {self._port} or {self._ldaps_port} is taken:\n{text[-4000:]}"
                    )
                raise RuntimeError(f"slapd exited {code} at start:\n{text[-4000:]}")
            answer = subprocess.run(
                ["ldapsearch", "-x", "-H", self.url, "-o", "nettimeout=1",
                 "-LLL", "-b", "", "-s", "base", "1.1"],
                capture_output=True, env=_client_environment(), timeout=COMMAND_TIMEOUT,
                check=False,
            )  # fmt: skip
            if answer.returncode == 0:
                return
            if time.monotonic() > deadline:
                self._terminate()
                raise RuntimeError(
                    f"slapd did not answer on {self.url} within {START_TIMEOUT}s:\n"
                    + self.log_file.read_text(errors="replace")[-4000:]
                )
            time.sleep(0.05)

    def _terminate(self) -> None:
        process = self._process
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        self._process = None


def _close_waits(port: int) -> int:
    """The TCP sockets on local port ``port`` in state CLOSE_WAIT (IPv4)."""
    count = 0
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            if int(fields[1].rpartition(":")[2], 16) == port and fields[3] == "08":
                count += 1
    return count


class _PortTaken(RuntimeError):
    pass


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the thread that started slapd ends, so a
    killed test run (timeout, SIGKILL) leaves no slapd behind; the temporary directory
    stays then. Start Slapd from a thread that lives as long as the server."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _client_environment() -> dict[str, str]:
    """No ldap.conf/.ldaprc/LDAP* variables: every option is on the command line."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LDAP")}
    environment["LDAPNOINIT"] = "1"
    return environment


def _write_secret(path: Path, secret: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secret)  # no newline: ldap* -y and slappasswd -T read it verbatim


def require_openldap(*, tls: bool = False) -> None:
    """Skip (fail under CI=true) unless the programs of :func:`missing_programs` are there."""
    missing = missing_programs(tls=tls)
    if missing:
        missing_service(
            f"OpenLDAP missing: {', '.join(missing)} "
            "(apt-get install --no-install-recommends slapd ldap-utils openssl)",
        )


@pytest.fixture(scope="session")
def slapd() -> Iterator[Slapd]:
    """A running slapd without TLS for the whole session; tests share its data."""
    require_openldap()
    with Slapd() as server:
        yield server


@pytest.fixture
def clean_slapd(slapd: Slapd) -> Iterator[Slapd]:
    """The session's slapd with ou=people, ou=groups and ou=others empty (reset before and
    after the test; restarted if the test killed it)."""
    slapd.reset()
    yield slapd
    slapd.reset()


@pytest.fixture(scope="session")
def slapd_tls() -> Iterator[Slapd]:
    """A second slapd that offers StartTLS; its CA certificate is ``slapd_tls.ca_file``."""
    require_openldap(tls=True)
    with Slapd(tls=True) as server:
        yield server
