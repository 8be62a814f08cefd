"""A private SSH login host for end-to-end tests: a real sshd resolving users through nslcd.

``LoginHost`` starts OpenSSH's sshd and nslcd inside one private mount namespace and one
private pid namespace (``unshare --mount --propagation private --pid --fork --mount-proc``).
Inside it, test copies are bind-mounted over ``/etc/nsswitch.conf`` (passwd/group/shadow:
files ldap), ``/etc/nslcd.conf`` and ``/etc/pam.d``, and a tmpfs covers ``/run`` (nslcd's
socket, sshd's privilege-separation directory, and a root-owned directory for the
AuthorizedKeysCommand). Nothing of the host's configuration changes: the mounts exist only
in the namespace, and the namespace ends with its last process. sshd listens on 127.0.0.1
at a free port, which is reachable from outside because the network is shared.

Requirements: root, util-linux ``unshare``, ``openssh-server``, ``nslcd``, ``libnss-ldapd``,
``libpam-ldapd`` and ``openssh-client``; no system nslcd or sshd needs to run. See
``missing_requirements()``.

``Site`` is a storage host for one test module: a throwaway slapd holding the accounts, a
``LoginHost`` resolving them, a repos root the accounts may enter, and client keys.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import os
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.harness.environment import missing_service, public_dir
from tests.harness.keys import keygen
from tests.harness.net import free_port
from tests.harness.openssh import installed_version, penalty_settings
from tests.harness.slapd import Slapd, missing_programs

SSHD = "/usr/sbin/sshd"
NSLCD = "/usr/sbin/nslcd"

# Inside the namespace: where the AuthorizedKeysCommand is bind-mounted. sshd insists that the
# program and every directory above it are root-owned and not group/world-writable; the
# namespace's own tmpfs on /run satisfies that whatever the caller's file lives under.
COMMAND_DIR = "/run/borghive-test"
COMMAND_PATH = f"{COMMAND_DIR}/authorized-keys-command"
# Root's authorized_keys (``root_keys``) sits beside it for the same reason (StrictModes).
ROOT_KEYS_PATH = f"{COMMAND_DIR}/root-authorized-keys"

# A private mount namespace (nothing propagates back to the host) and a private pid namespace
# whose init is the first command: when it dies, the kernel kills everything left inside.
UNSHARE = ("unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--mount-proc")

# Publickey logins never run PAM's auth stack, so it denies everything. The account stack asks
# nslcd about the LDAP entry (pam_ldap): shadowExpire in the past, or a missing entry, refuses
# the login. The session stack creates the home directory at the first login.
DEFAULT_PAM_SSHD = textwrap.dedent(
    """\
    # borghive test host: sshd with LDAP accounts through nslcd (see tests/harness/sshd.py)
    auth     required pam_deny.so
    account  required pam_ldap.so
    session  required pam_mkhomedir.so skel=/etc/skel umask=0077
    password required pam_deny.so
    """
)


def _library(pattern: str) -> str | None:
    for prefix in ("/lib", "/usr/lib"):
        found = sorted(glob.glob(f"{prefix}/{pattern}"))
        if found:
            return found[0]
    return None


def missing_requirements() -> list[str]:
    """What this machine lacks to run a ``LoginHost``; empty when everything is there."""
    if os.geteuid() != 0:
        return ["LoginHost needs root (private mount namespace, sshd, nslcd)"]
    missing = [
        f"{program} not found (apt-get install {package})"
        for program, package in (
            (SSHD, "openssh-server"),
            (NSLCD, "nslcd"),
            ("unshare", "util-linux"),
            ("ssh", "openssh-client"),
            ("ssh-keygen", "openssh-client"),
        )
        if shutil.which(program) is None
    ]
    for pattern, package in (
        ("*/libnss_ldap.so.2", "libnss-ldapd"),
        ("*/security/pam_ldap.so", "libpam-ldapd"),
        ("*/security/pam_mkhomedir.so", "libpam-modules"),
    ):
        if _library(pattern) is None:
            missing.append(f"{pattern.rsplit('/', 1)[-1]} not found (apt-get install {package})")
    if not missing:
        probe = subprocess.run([*UNSHARE, "true"], capture_output=True, text=True, check=False)
        if probe.returncode != 0:
            missing.append(f"unshare --mount --pid is not permitted here: {probe.stderr.strip()}")
    return missing


def _ppid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as file:
            # The command name is in parentheses and may contain spaces; fields follow it.
            return int(file.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _pid_namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def _check_command(path: Path) -> None:
    """Refuse an AuthorizedKeysCommand sshd would refuse, with a clearer message than sshd's."""
    info = path.stat()
    if not stat.S_ISREG(info.st_mode) or not info.st_mode & 0o100:
        raise ValueError(f"{path}: the AuthorizedKeysCommand must be an executable file")
    if info.st_uid != 0 or info.st_mode & 0o022:
        raise ValueError(
            f"{path}: sshd runs an AuthorizedKeysCommand only when it is owned by root and not "
            f"group- or world-writable (owner {info.st_uid}, mode {info.st_mode & 0o7777:o})"
        )


class LoginHost:
    """A real sshd on 127.0.0.1 whose users come from LDAP through nslcd, isolated from the host.

    ``ldap_url``/``ldap_base`` name a running directory that nslcd reads (anonymously, or as
    ``bind_dn``/``bind_password``). ``authorized_keys_command`` is a root-owned executable that
    is not group/world-writable; sshd runs it as ``command_user`` with ``arguments`` (sshd's
    ``%`` tokens). ``pam_sshd`` replaces ``/etc/pam.d/sshd``; ``sshd_config`` lines are appended
    to the generated configuration. ``namespace_setup`` is shell (bash) text the namespace's
    init runs as root after the test mounts and before nslcd and sshd start, e.g. more bind
    mounts; like them it is private to the namespace. Use as a context manager, or call
    ``start()``/``stop()``. ``nslcd_options`` are more nslcd.conf lines (e.g. the shipped
    file's time limits).

    ``port`` fixes the port (0: a free one at each start) and ``host_key`` the host key (None:
    a new one at each start), so that a restarted host is the same host to ssh clients.
    ``root_keys`` (a root-owned file of public keys, not group/world-writable) lets root log
    in with those keys only (``PermitRootLogin prohibit-password``, no AuthorizedKeysCommand
    for root), with ``root_environment`` set in root's sessions (sshd's ``SetEnv``): how
    storage hosts run commands on each other. PAM's account stack must then let root in
    (see ``ROOT_PAM_SSHD``).
    """

    def __init__(
        self,
        ldap_url: str,
        ldap_base: str,
        authorized_keys_command: Path,
        *,
        arguments: str = "%u %t %k",
        command_user: str = "nobody",
        bind_dn: str | None = None,
        bind_password: str | None = None,
        pam_sshd: str = DEFAULT_PAM_SSHD,
        sshd_config: str = "",
        start_timeout: float = 30.0,
        namespace_setup: str = "",
        nslcd_options: str = "",
        port: int = 0,
        host_key: Path | None = None,
        root_keys: Path | None = None,
        root_environment: dict[str, str] | None = None,
    ) -> None:
        self.ldap_url = ldap_url
        self.ldap_base = ldap_base
        self.authorized_keys_command = Path(authorized_keys_command).resolve()
        self.arguments = arguments
        self.command_user = command_user
        self.bind_dn = bind_dn
        self.bind_password = bind_password
        self.pam_sshd = pam_sshd
        self.extra_sshd_config = sshd_config
        self.start_timeout = start_timeout
        self.namespace_setup = namespace_setup
        self.nslcd_options = nslcd_options
        self.fixed_port = port
        self.host_key = host_key
        self.root_keys = root_keys
        self.root_environment = dict(root_environment or {})
        self.port = port
        self.workdir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._init_pid: int | None = None
        self._namespace: str | None = None
        self._saved_log = ""

    # -- life cycle -------------------------------------------------------------------------

    def __enter__(self) -> LoginHost:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> LoginHost:
        """Write the test configuration, start nslcd and sshd, and wait until sshd answers.

        Raises ``ValueError`` for an AuthorizedKeysCommand sshd would refuse, and
        ``RuntimeError`` (with the logs) when the namespace, nslcd or sshd do not come up.
        """
        if self._process is not None:
            raise RuntimeError("LoginHost already started")
        _check_command(self.authorized_keys_command)
        self.workdir = Path(tempfile.mkdtemp(prefix="borghive-sshd-"))
        self.port = self.fixed_port or free_port()
        try:
            script = self._write_files(self.workdir)
            with (self.workdir / "namespace.log").open("wb") as log:
                self._process = subprocess.Popen(
                    [*UNSHARE, "--kill-child", "bash", str(script)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """End every process of the namespace (by pid), wait for them, remove the work dir.

        sshd and nslcd get SIGTERM first; then the namespace's init (the generated script)
        gets SIGKILL, which makes the kernel kill whatever is left in the namespace, login
        sessions included. The mounts vanish with the namespace.
        """
        process, self._process = self._process, None
        if process is not None:
            for pid in self.pids():
                if pid != self._init_pid:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and set(self.pids()) - {self._init_pid}:
                time.sleep(0.05)
            if self._init_pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self._init_pid, signal.SIGKILL)
            else:
                process.kill()
            # unshare reaps its child and exits. Killing unshare instead would leave the child's
            # zombie to the host's init; unshare ignores SIGTERM, so SIGKILL it only as the
            # last resort (--kill-child then takes the namespace down).
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.pids():
                time.sleep(0.05)
        self._init_pid = None
        if self.workdir is not None:
            self._saved_log = self.log
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def pids(self) -> list[int]:
        """Host pids of every process still in the login host's pid namespace."""
        if self._namespace is None:
            return []
        return [pid for pid in _all_pids() if _pid_namespace(pid) == self._namespace]

    # -- observing and using it ---------------------------------------------------------------

    @property
    def log(self) -> str:
        """sshd's log so far (``LogLevel VERBOSE``); kept after ``stop()``."""
        if self.workdir is None:
            return self._saved_log
        return self._read("sshd.log")

    @property
    def nslcd_log(self) -> str:
        """nslcd's debug log so far (its reasons for refusing an account are here)."""
        return self._read("nslcd.log") if self.workdir is not None else ""

    def ssh_argv(self, key_file: Path) -> list[str]:
        """The OpenSSH client command line (without user and command) for this host and key."""
        return [
            "ssh", "-F", "/dev/null", "-p", str(self.port), "-i", str(key_file),
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
        ]  # fmt: skip

    def ssh(
        self, user: str, key_file: Path, *command: str, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Log in as ``user`` with ``key_file`` from outside the namespace and run ``command``.

        Returns the finished client (exit 255 when the login is refused), text mode.
        """
        return subprocess.run(
            [*self.ssh_argv(key_file), "-l", user, "--", "127.0.0.1", *command],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
            check=False,
        )  # fmt: skip

    def inside(self, *command: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """Run ``command`` in the login host's mount namespace (its nsswitch.conf and nslcd
        socket: ``getent passwd NAME`` resolves through its nslcd). Text mode, not checked."""
        if self._init_pid is None:
            raise RuntimeError("the login host is not running")
        return subprocess.run(
            ["nsenter", "--target", str(self._init_pid), "--mount", "--", *command],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
            check=False,
        )  # fmt: skip

    # -- internals ----------------------------------------------------------------------------

    def _read(self, name: str) -> str:
        assert self.workdir is not None
        try:
            return (self.workdir / name).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _write_files(self, workdir: Path) -> Path:
        host_key = self.host_key or keygen(workdir / "ssh_host_ed25519_key", "borghive-test-host")
        (workdir / "sshd_config").write_text(
            textwrap.dedent(
                f"""\
                ListenAddress 127.0.0.1:{self.port}
                HostKey {host_key}
                PidFile {workdir}/sshd.pid
                UsePAM yes
                PubkeyAuthentication yes
                PasswordAuthentication no
                KbdInteractiveAuthentication no
                AuthorizedKeysFile none
                AuthorizedKeysCommand {COMMAND_PATH} {self.arguments}
                AuthorizedKeysCommandUser {self.command_user}
                StrictModes yes
                LogLevel VERBOSE
                LoginGraceTime 30
                """
            )
            # The tests' deliberate refusals would lock 127.0.0.1 out on OpenSSH >= 9.8.
            + penalty_settings(installed_version(SSHD))
            + self.extra_sshd_config
            + self._root_login_config()
        )
        nslcd_conf = [
            "uid nslcd",
            "gid nslcd",
            f"uri {self.ldap_url}",
            f"base {self.ldap_base}",
            "ssl off",
            # nslcd never caches passwd/shadow lookups; its only cache is this one. Off, so a
            # test sees every change in the directory at once.
            "cache dn2uid off",
        ]
        nslcd_conf += [line for line in self.nslcd_options.splitlines() if line.strip()]
        if self.bind_dn is not None:
            nslcd_conf.append(f"binddn {self.bind_dn}")
        if self.bind_password is not None:
            nslcd_conf.append(f"bindpw {self.bind_password}")
        # nslcd refuses to start when a file with bindpw is world-readable (Debian: 0640).
        descriptor = os.open(workdir / "nslcd.conf", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        with os.fdopen(descriptor, "w") as file:
            file.write("\n".join(nslcd_conf) + "\n")
        shutil.chown(workdir / "nslcd.conf", "root", "nslcd")
        (workdir / "nsswitch.conf").write_text(
            "passwd: files ldap\ngroup: files ldap\nshadow: files ldap\n"
            "hosts: files dns\nnetworks: files\nprotocols: db files\nservices: db files\n"
        )
        pam = workdir / "pam.d"
        shutil.copytree("/etc/pam.d", pam, symlinks=True)
        (pam / "sshd").write_text(self.pam_sshd)
        # The script is the namespace's init: every mount it makes is private to it.
        script = workdir / "namespace.sh"
        (workdir / "login-records").mkdir()
        names = ("nsswitch.conf", "nslcd.conf", "pam.d", "sshd_config", "sshd.log", "nslcd.log",
                 "login-records")  # fmt: skip
        quoted = {name: shlex.quote(str(workdir / name)) for name in names}
        script.write_text(
            textwrap.dedent(
                f"""\
                set -eu
                mount -t tmpfs -o mode=0755,nosuid,nodev borghive-test-run /run
                mkdir -m 0755 /run/sshd {COMMAND_DIR}
                install -d -m 0755 -o nslcd -g nslcd /run/nslcd
                touch {COMMAND_PATH}
                mount --bind {shlex.quote(str(self.authorized_keys_command))} {COMMAND_PATH}
                mount --bind {quoted["nsswitch.conf"]} /etc/nsswitch.conf
                mount --bind {quoted["nslcd.conf"]} /etc/nslcd.conf
                mount --bind {quoted["pam.d"]} /etc/pam.d
                {self._root_keys_mount()}
                # sshd records failed logins in btmp (and tty logins in wtmp/lastlog); it never
                # creates them, so cover the host's where they exist.
                for log in /var/log/btmp /var/log/wtmp /var/log/lastlog; do
                    if [ -f "$log" ]; then
                        : > {quoted["login-records"]}/"${{log##*/}}"
                        mount --bind {quoted["login-records"]}/"${{log##*/}}" "$log"
                    fi
                done
                # namespace_setup
                {NSLCD} -d > {quoted["nslcd.log"]} 2>&1 &
                for _ in $(seq 200); do
                    [ -S /run/nslcd/socket ] && break
                    kill -0 $! 2>/dev/null || {{ echo "nslcd exited" >&2; exit 1; }}
                    sleep 0.05
                done
                [ -S /run/nslcd/socket ] || {{ echo "nslcd did not open its socket" >&2; exit 1; }}
                {SSHD} -D -e -f {quoted["sshd_config"]} > {quoted["sshd.log"]} 2>&1 &
                wait -n
                echo "a daemon exited" >&2
                exit 1
                """
            )
        )
        if self.namespace_setup:
            text = script.read_text()
            script.write_text(
                text.replace("# namespace_setup\n", self.namespace_setup.rstrip("\n") + "\n", 1)
            )
        return script

    def _root_login_config(self) -> str:
        """The last block of sshd_config: root logs in with ``root_keys`` only."""
        if self.root_keys is None:
            return ""
        lines = [
            "Match User root",
            "    PermitRootLogin prohibit-password",
            f"    AuthorizedKeysFile {ROOT_KEYS_PATH}",
            "    AuthorizedKeysCommand none",
        ]
        if self.root_environment:
            pairs = " ".join(f"{name}={value}" for name, value in self.root_environment.items())
            lines.append(f"    SetEnv {pairs}")
        return "\n" + "\n".join(lines) + "\n"

    def _root_keys_mount(self) -> str:
        if self.root_keys is None:
            return ""
        source = shlex.quote(str(self.root_keys))
        return f"touch {ROOT_KEYS_PATH} && mount --bind {source} {ROOT_KEYS_PATH}"

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._init_pid is None:
                self._find_init()
            if self._process.poll() is not None:
                break
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.5) as sock,
            ):
                sock.settimeout(5)
                if sock.recv(4).startswith(b"SSH-"):
                    if self._init_pid is None:
                        self._find_init()
                    return
            time.sleep(0.05)
        raise RuntimeError(
            f"the login host did not start on 127.0.0.1:{self.port}\n"
            f"namespace: {self._read('namespace.log')}\nsshd: {self._read('sshd.log')}\n"
            f"nslcd: {self._read('nslcd.log')[-2000:]}"
        )

    def _find_init(self) -> None:
        assert self._process is not None
        for pid in _all_pids():
            if _ppid(pid) == self._process.pid:
                namespace = _pid_namespace(pid)
                if namespace is not None and namespace != _pid_namespace(os.getpid()):
                    self._init_pid, self._namespace = pid, namespace
                    return


def account_ldif(slapd: Slapd, name: str, uid: int, gid: int, group: str, home: Path) -> str:
    """LDIF of a posixGroup ``group`` (``gid``) and a posixAccount/shadowAccount ``name`` in
    it whose password was changed today (so PAM's account stack accepts it)."""
    day = (dt.datetime.now(dt.UTC).date() - dt.date(1970, 1, 1)).days
    return (
        f"dn: cn={group},{slapd.groups_dn}\nobjectClass: posixGroup\ncn: {group}\n"
        f"gidNumber: {gid}\n\n"
        f"dn: uid={name},{slapd.people_dn}\nobjectClass: account\n"
        f"objectClass: posixAccount\nobjectClass: shadowAccount\nuid: {name}\ncn: {name}\n"
        f"uidNumber: {uid}\ngidNumber: {gid}\nhomeDirectory: {home}\n"
        f"loginShell: /bin/sh\nshadowLastChange: {day}\n"
    )


def shadow_expire_ldif(slapd: Slapd, name: str, value: int | None) -> str:
    """LDIF that sets (or, for None, removes) account ``name``'s shadowExpire."""
    change = "delete: shadowExpire\n"
    if value is not None:
        change = f"replace: shadowExpire\nshadowExpire: {value}\n"
    return f"dn: uid={name},{slapd.people_dn}\nchangetype: modify\n{change}"


class Site:
    """A storage host for one test module: a throwaway slapd (StartTLS with ``tls``), a
    ``LoginHost`` whose accounts come from it, a repos root (0755, below /tmp: pam_mkhomedir
    runs as root, the forced command as the account, which pytest's 0700 ``tmp_path`` would
    stop) and the client keys ``key_names`` made in ``work``, pytest's private directory.

    ``require()``, then ``slapd.start()``, the accounts, the command at ``command``, then
    ``start_host(...)``;
    ``stop()`` ends everything and removes the repos root.
    """

    def __init__(self, work: Path, *key_names: str, tls: bool = False) -> None:
        self.work = work
        self.slapd = Slapd(tls=tls)
        self.repos = public_dir("borghive-repos-")
        self.keys = {name: keygen(work / name, name) for name in key_names}
        self.command = work / "authorized-keys"  # the test writes the AuthorizedKeysCommand
        self.host: LoginHost | None = None

    @staticmethod
    def require(*, tls: bool = False) -> None:
        """Skip (fail under CI=true) unless sshd, nslcd, slapd and their tools are there."""
        missing = missing_requirements() + [
            f"{name} not found" for name in missing_programs(tls=tls)
        ]
        if missing:
            missing_service("; ".join(missing))

    def start_host(self, *, bind: bool = True, **options: Any) -> LoginHost:
        """Start the login host: nslcd reads the directory bound as its service account
        (anonymously unless ``bind``), sshd asks ``command``; ``options`` go to LoginHost."""
        if bind:
            options.update(bind_dn=self.slapd.service_dn, bind_password=self.slapd.service_password)
        self.host = LoginHost(self.slapd.url, self.slapd.suffix, self.command, **options).start()
        return self.host

    def stop(self) -> None:
        if self.host is not None:
            self.host.stop()
        self.slapd.stop()
        shutil.rmtree(self.repos, ignore_errors=True)
