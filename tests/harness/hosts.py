"""Several storage hosts on one machine: one PostgreSQL store, one slapd, two or three hosts.

``HostsSite`` starts one real PostgreSQL cluster (``postgres.PostgresCluster``: stop and
start it to take the store away) and one real slapd holding the accounts, and for each
storage host (``"a"``, ``"b"``, ...) a ``StorageHost``: its own configuration file (store =
the shared PostgreSQL, ldap = the shared slapd, ``repos.host`` = ``host-a.test``, its own
sshd port), its own disk, its own sshd + nslcd in a private mount namespace
(``sshd.LoginHost``) that also lets the other hosts' root in with their keys (for
``repo move``), and its own ``borghive watch`` when a test starts one.

**One repos root path, one disk per host.** Every host's configuration says the same
``repos.root``; each host's own directory (its "disk", ``StorageHost.disk``) is bind-mounted
over that path in the host's namespaces only: its sshd's, and a private one for each
``borghive`` command and watch daemon run as that host. This is how a real site looks (one
LDAP ``homeDirectory`` per repository user, the same on every host), and it keeps borghive
honest: a host can reach only its own disk through ``repos.root``, so a command that acts on
another host's repository finds nothing there, and a copy between hosts must go over SSH.
Outside the namespaces the repos root stays empty (``HostsSite.stray_files()``), and the
disks live in a directory only root may enter. The test reads a host's files at ``disk``.

Clients use the URLs borghive prints (``ssh://USER@host-a.test:PORT/./NAME``) as printed:
the client's ssh connects to 127.0.0.1 whatever the host name (``-o Hostname``).

Everything is stopped by pid and removed in ``stop()``; no mount outlives its namespace.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from tests.harness.borg import BORG, PASSPHRASE
from tests.harness.config import toml_text
from tests.harness.environment import (
    BORGHIVE,
    NOBODY,
    expose_script,
    missing_service,
    public_dir,
    remove_tree,
)
from tests.harness.keys import keygen
from tests.harness.net import free_port
from tests.harness.postgres import PostgresCluster, PostgresServer, postgres_bindir
from tests.harness.slapd import Slapd, missing_programs
from tests.harness.sshd import COMMAND_PATH, DEFAULT_PAM_SSHD, LoginHost, missing_requirements
from tests.harness.watch import WatchProcess, wait_for

RRSYNC = Path("/usr/bin/rrsync")
TIMEOUT = 120.0

# Root (another storage host's repo move) is not in the directory, so pam_ldap would refuse
# it: the account stack skips pam_ldap for uid 0 and lets it in.
HOSTS_PAM_SSHD = DEFAULT_PAM_SSHD.replace(
    "account  required pam_ldap.so\n",
    "account  [success=1 default=ignore] pam_succeed_if.so quiet uid = 0\n"
    "account  required pam_ldap.so\n"
    "account  required pam_permit.so\n",
)


def require() -> None:
    """Skip (fail under CI=true) unless sshd, nslcd, slapd, PostgreSQL, borg and rsync are
    here."""
    missing = missing_requirements() + [f"{name} not found" for name in missing_programs()]
    if postgres_bindir() is None:
        missing.append("PostgreSQL server binaries not found (apt-get install postgresql)")
    missing += [f"{path} not found" for path in (BORGHIVE, Path(BORG), RRSYNC) if not path.exists()]
    missing += [f"{name} not found" for name in ("rsync", "nsenter") if shutil.which(name) is None]
    if missing:
        missing_service("; ".join(missing))


def _clean_environment(**extra: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BORGHIVE_")}
    environment.update(extra)
    return environment


class StorageHost:
    """One storage host of a ``HostsSite``: ``letter`` "a" is named ``host-a.test``.

    ``config_path`` its configuration (readable by all: authkeys runs as nobody), ``disk``
    its repository tree as the test sees it (root only), ``repos_root`` the same tree as
    borghive sees it inside the host's namespaces, ``port`` its sshd's port (fixed for the
    site: a restarted sshd is the same host), ``sshd`` the running ``LoginHost`` (None while
    stopped), ``identity`` root's private key for SSH to the other hosts.
    """

    def __init__(self, site: HostsSite, letter: str) -> None:
        self.site = site
        self.letter = letter
        self.name = f"host-{letter}.test"
        self.directory = site.public / letter  # config, authkeys command, snapshot, spool
        self.directory.mkdir(mode=0o755)
        self.config_path = self.directory / "borghive.toml"
        self.command = self.directory / "authorized-keys"
        self.disk = site.disks / letter
        self.disk.mkdir(mode=0o755)
        self.repos_root = site.repos_root
        self.port = free_port()
        self.host_key = keygen(site.private / f"ssh_host_key_{letter}", self.name)
        self.identity = keygen(site.private / f"root_identity_{letter}", f"root@{self.name}")
        self.root_keys = site.private / f"root_authorized_keys_{letter}"
        self.sshd: LoginHost | None = None
        self.watch: WatchProcess | None = None
        self._watch_logs = 0

    # -- running borghive as this host --------------------------------------------------

    @property
    def namespace_prefix(self) -> list[str]:
        """The command prefix that runs a program as root in a private mount namespace where
        this host's disk is at ``repos_root``."""
        mount = f"mount --bind {shlex.quote(str(self.disk))} {shlex.quote(str(self.repos_root))}"
        return [
            "unshare", "--mount", "--propagation", "private", "--",
            "/bin/sh", "-c", f'{mount} && exec "$@"', "sh",
        ]  # fmt: skip

    def argv(self, *args: str) -> list[str]:
        """The command line of ``borghive ARGS`` as this host (use with ``environment``)."""
        return [*self.namespace_prefix, str(BORGHIVE), *args]

    @property
    def environment(self) -> dict[str, str]:
        """The caller's environment without its BORGHIVE_* variables, with BORGHIVE_CONFIG
        naming this host's configuration."""
        return _clean_environment(BORGHIVE_CONFIG=str(self.config_path))

    def borghive(
        self, *args: str, check: bool = False, timeout: float = TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """Run ``borghive ARGS`` as an admin on this host; text mode. ``check``: assert
        exit 0 (with the output in the message)."""
        result = subprocess.run(
            self.argv(*args), env=self.environment, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        if check:
            assert result.returncode == 0, (self.name, args, result.stdout, result.stderr)
        return result

    def json(self, *args: str) -> Any:
        """``borghive ARGS --json`` as this host, which must exit 0: the parsed output."""
        return json.loads(self.borghive(*args, "--json", check=True).stdout)

    def popen(self, *args: str, **options: Any) -> subprocess.Popen[str]:
        """``borghive ARGS`` as this host in the background (for killing it at a step);
        ``options`` go to Popen (default: output captured, text mode)."""
        options.setdefault("stdout", subprocess.PIPE)
        options.setdefault("stderr", subprocess.PIPE)
        options.setdefault("stdin", subprocess.DEVNULL)
        options.setdefault("text", True)
        return subprocess.Popen(self.argv(*args), env=self.environment, **options)

    # -- its watch daemon -----------------------------------------------------------------

    def watch_start(self) -> WatchProcess:
        """Start ``borghive watch`` as this host and wait until it says ready."""
        if self.watch is not None:
            raise RuntimeError(f"{self.name}: watch already running")
        self._watch_logs += 1
        log = self.directory / f"watch-{self._watch_logs}.log"
        self.watch = WatchProcess(self.config_path, log, prefix=tuple(self.namespace_prefix))
        return self.watch

    def watch_stop(self) -> int:
        """Stop the watch daemon (SIGTERM, waiting for it); its exit code."""
        watch, self.watch = self.watch, None
        return watch.stop() if watch is not None else 0

    # -- its sshd -------------------------------------------------------------------------

    def sshd_start(self) -> LoginHost:
        """Start this host's sshd + nslcd (same port and host key each time)."""
        if self.sshd is not None:
            raise RuntimeError(f"{self.name}: sshd already running")
        mount = f"mount --bind {shlex.quote(str(self.disk))} {shlex.quote(str(self.repos_root))}"
        slapd = self.site.slapd
        self.sshd = LoginHost(
            slapd.url,
            slapd.suffix,
            self.command,
            arguments="%u %t %k",
            command_user="nobody",
            bind_dn=slapd.service_dn,
            bind_password=slapd.service_password,
            pam_sshd=HOSTS_PAM_SSHD,
            namespace_setup=expose_script() + mount + "\n",
            port=self.port,
            host_key=self.host_key,
            root_keys=self.root_keys,
            root_environment={"BORGHIVE_CONFIG": str(self.config_path)},
        ).start()
        return self.sshd

    def sshd_stop(self) -> None:
        sshd, self.sshd = self.sshd, None
        if sshd is not None:
            sshd.stop()

    # -- clients and logins ---------------------------------------------------------------

    def ssh_url(self, repo_user: str, name: str) -> str:
        """The client URL of repository ``name`` of ``repo_user`` if it lives here (no
        repos.url_host template in the site's configurations)."""
        return f"ssh://{repo_user}@{self.name}:{self.port}/./{name}"

    def login(self, user: str, key: Path, *command: str) -> subprocess.CompletedProcess[str]:
        """An ssh login to this host as ``user`` with client key ``key`` running ``command``
        (exit 255 when the login is refused)."""
        assert self.sshd is not None, f"{self.name}: sshd is not running"
        return self.sshd.ssh(user, key, *command)

    def login_accepted(self, user: str, key: Path) -> bool:
        """Whether sshd lets ``user`` in with ``key`` (whatever the forced command does)."""
        return self.login(user, key, "true").returncode != 255

    def authkeys(self, user: str, public_key: Path) -> subprocess.CompletedProcess[str]:
        """This host's AuthorizedKeysCommand, run as sshd runs it (as nobody, in the login
        namespace, sshd's arguments ``%u %t %k``) for ``user`` offering ``public_key``."""
        assert self.sshd is not None, f"{self.name}: sshd is not running"
        key_type, blob = public_key.read_text().split()[:2]
        return self.sshd.inside(
            "env", "-i", "PATH=/usr/bin:/bin", "USER=nobody", "LOGNAME=nobody",
            "HOME=/nonexistent", "LANG=C.UTF-8",
            "/usr/bin/setpriv", *NOBODY, COMMAND_PATH, user, key_type, blob,
        )  # fmt: skip

    def home(self, repo_user: str) -> Path:
        """Where ``repo_user``'s home is on this host's disk (as the test sees it)."""
        return self.disk / repo_user

    # -- set-up ---------------------------------------------------------------------------

    def write_files(self, store_url: str, others: list[StorageHost]) -> None:
        self.config_path.write_text(self.site.config_text(self, store_url))
        self.config_path.chmod(0o644)
        self.command.write_text(
            f'#!/bin/sh\nexec {BORGHIVE} --config {self.config_path} authkeys "$@"\n'
        )
        self.command.chmod(0o755)
        self.root_keys.write_text(
            "".join(other.identity.with_suffix(".pub").read_text() for other in others)
        )
        self.root_keys.chmod(0o600)


class HostsSite:
    """A site of storage hosts for one test module (start costs seconds: module scope).

    ``letters`` names the hosts (``site.hosts["a"]`` is ``host-a.test``); ``client_keys``
    are client key pairs made in ``work`` (pytest's private directory; ``site.keys[name]``
    is the private key, ``.pub`` beside it). ``config`` adds or replaces keys per section
    in every host's configuration, e.g. ``{"hosts": {"snapshot_trust": "1m"}}``.

    ``start()``: PostgreSQL, slapd, every configuration, ``migrate`` (as the first host),
    every sshd, then ``stats collect`` on every host (each host reports itself). Watch
    daemons are started by the tests (``host.watch_start()``). ``stop()`` ends everything.
    """

    def __init__(
        self,
        work: Path,
        letters: tuple[str, ...] = ("a", "b"),
        *,
        client_keys: tuple[str, ...] = ("k1", "k2"),
        config: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.work = work
        self.extra_config = {section: dict(values) for section, values in (config or {}).items()}
        self.public = public_dir("borghive-hosts-")  # per host: config, command, snapshot
        self.repos_root = self.public / "repos"  # each host's disk is mounted here
        self.repos_root.mkdir(mode=0o755)
        self.private = Path(tempfile.mkdtemp(prefix="borghive-hosts-private-"))  # 0700
        self.disks = self.private / "disks"
        self.disks.mkdir(mode=0o700)
        self.client = work  # the client's keys, borg's base directory, its data
        (work / "borg").mkdir(exist_ok=True)
        self.keys = {name: keygen(work / name, name) for name in client_keys}
        self.slapd = Slapd()
        bindir = postgres_bindir()
        assert bindir is not None, "call require() first"
        self.postgres = PostgresCluster(bindir)
        self.database: PostgresServer | None = None
        # Other tests allocate uids from 200000 too; a block of its own keeps their
        # "repository user has processes running" checks off this site's sessions.
        self.uid_min = 210000 + random.randrange(800) * 100  # noqa: S311 - not a secret
        self.hosts = {letter: StorageHost(self, letter) for letter in letters}

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> HostsSite:
        try:
            self.postgres.start()
            self.database = self.postgres.server("borghive_hosts")
            self.slapd.start()
            for host in self.hosts.values():
                others = [other for other in self.hosts.values() if other is not host]
                host.write_files(self.database.url, others)
            self._write_known_hosts()
            self.first.borghive("migrate", check=True)
            for host in self.hosts.values():
                host.sshd_start()
            for host in self.hosts.values():
                host.borghive("stats", "collect", check=True)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every watch daemon, sshd, slapd and PostgreSQL; remove every file."""
        for host in self.hosts.values():
            with contextlib.suppress(Exception):
                host.watch_stop()
            host.sshd_stop()
        self.slapd.stop()
        self.postgres.remove()
        remove_tree(self.public)
        remove_tree(self.private)

    @property
    def first(self) -> StorageHost:
        return next(iter(self.hosts.values()))

    @property
    def known_hosts(self) -> Path:
        return self.private / "known_hosts"

    def _write_known_hosts(self) -> None:
        lines = []
        for host in self.hosts.values():
            key_type, blob = host.host_key.with_suffix(".pub").read_text().split()[:2]
            lines.append(f"[127.0.0.1]:{host.port} {key_type} {blob}\n")
        self.known_hosts.write_text("".join(lines))
        self.known_hosts.chmod(0o600)

    def config_text(self, host: StorageHost, store_url: str) -> str:
        slapd = self.slapd
        sections: dict[str, dict[str, Any]] = {
            "store": {"url": store_url, "connect_timeout": 3.0},
            "repos": {
                "root": str(self.repos_root),
                "host": host.name,
                "ssh_port": host.port,
                "uid_min": self.uid_min,
                "uid_max": self.uid_min + 99,
            },
            "borg": {"path": str(BORG), "rrsync_path": str(RRSYNC)},
            "accounts": {"backend": "ldap"},
            "ldap": {
                "url": slapd.url,
                "start_tls": False,
                "bind_dn": slapd.service_dn,
                "bind_password_file": str(slapd.service_password_file),
                "base_dn": slapd.suffix,
                "users_dn": slapd.people_dn,
                "groups_dn": slapd.groups_dn,
                "connect_timeout": 3.0,
                "operation_timeout": 5.0,
            },
            "watch": {"spool": str(host.directory / "watch.spool")},
            "hosts": {
                "peer_address": "127.0.0.1",
                "peer_port": host.port,
                "ssh_identity_file": str(host.identity),
                "ssh_known_hosts_file": str(self.known_hosts),
                "peer_command": str(BORGHIVE),
                "heartbeat": "10s",
                "snapshot_refresh": "10s",
            },
        }
        for section, values in self.extra_config.items():
            sections.setdefault(section, {}).update(values)
        return toml_text(sections)

    # -- observing --------------------------------------------------------------------------

    def stray_files(self) -> list[str]:
        """Files under the repos root outside every host's namespace: must stay empty (a
        borghive that wrote there ran outside its host)."""
        return sorted(str(path) for path in self.repos_root.rglob("*"))

    def sql(self, query: str, *parameters: object) -> list[tuple[Any, ...]]:
        """Rows of ``query`` on the store, read behind borghive's back."""
        import psycopg2

        assert self.database is not None
        connection = psycopg2.connect(
            host="127.0.0.1", port=self.postgres.port, user="postgres",
            dbname=self.database.database, connect_timeout=5,
        )  # fmt: skip
        try:
            with connection, connection.cursor() as cursor:
                cursor.execute(query, parameters)
                return list(cursor.fetchall()) if cursor.description else []
        finally:
            connection.close()

    # -- the borg client --------------------------------------------------------------------

    def ssh_client(self, key: Path) -> list[str]:
        """The client's ssh (BORG_RSH, rsync -e) logging in with ``key``: whatever host name
        a URL names, it connects to 127.0.0.1 at the URL's port."""
        return [
            "ssh", "-F", "/dev/null", "-i", str(key), "-o", "Hostname=127.0.0.1",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
        ]  # fmt: skip

    def borg_environment(self, key: Path, url: str, **extra: str) -> dict[str, str]:
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.client),
            "LANG": "C.UTF-8",
            "BORG_RSH": shlex.join(self.ssh_client(key)),
            "BORG_PASSPHRASE": PASSPHRASE,
            "BORG_BASE_DIR": str(self.client / "borg"),
            "BORG_REPO": url,
        }
        environment.update(extra)
        return environment

    def borg(
        self, key: Path, url: str, *args: str, cwd: Path | None = None, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        """``borg ARGS`` as a client with ``BORG_REPO=url``, logging in with ``key``;
        ``extra`` environment variables (e.g. ``BORG_RELOCATED_REPO_ACCESS_IS_OK="yes"``)."""
        return subprocess.run(
            [str(BORG), *args], cwd=cwd or self.client,
            env=self.borg_environment(key, url, **extra), stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=TIMEOUT, check=False,
        )  # fmt: skip


@contextlib.contextmanager
def hosts_site(work: Path, *letters: str, **options: Any) -> Iterator[HostsSite]:
    """``require()``, then a started ``HostsSite`` (hosts ``letters``, default a and b),
    stopped after."""
    require()
    site = HostsSite(work, letters or ("a", "b"), **options)
    try:
        site.start()
        yield site
    finally:
        site.stop()


def wait_until(predicate: Any, timeout: float, what: str) -> float:
    """Poll ``predicate`` until true; the seconds it took (AssertionError after
    ``timeout``)."""
    started = time.monotonic()
    wait_for(predicate, timeout, what)
    return time.monotonic() - started
