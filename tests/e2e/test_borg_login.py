"""The product's core promise, end to end: one SSH key opens exactly one repository.

Everything is real: a throwaway slapd holds the repository users, ``borghive`` (the installed
console script, in subprocesses) writes them there and into a SQLite store, a private sshd +
nslcd + PAM login host (tests/harness/sshd.py) resolves them and asks ``borghive authkeys``
for the keys, and the real borg and rsync clients log in. Nothing of the host changes.

Files sshd, nslcd and ``nobody`` (the AuthorizedKeysCommandUser) must read live in 0755
directories under /tmp, not in pytest's 0700 ``tmp_path``; the clients' keys stay there.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import sqlite3
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.borg import BORG, PASSPHRASE
from tests.harness.config import toml_text
from tests.harness.environment import BORGHIVE, expose_script, missing_service, public_dir
from tests.harness.sshd import Site

pytestmark = [pytest.mark.sshd, pytest.mark.e2e, pytest.mark.slapd]

RRSYNC = Path("/usr/bin/rrsync")
GID = 200000
TIMEOUT = 120


def _require() -> None:
    Site.require()
    missing = [f"{path} not found" for path in (BORGHIVE, Path(BORG), RRSYNC) if not path.exists()]
    missing += [f"{name} not found" for name in ("rsync",) if shutil.which(name) is None]
    if missing:
        missing_service("; ".join(missing))


def _mounts() -> list[str]:
    return [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]


def _processes_mentioning(*paths: Path) -> list[str]:
    """Command lines of running processes that name one of ``paths``."""
    found: list[str] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            command = raw.replace(b"\0", b" ").decode(errors="replace")
            if any(str(path) in command for path in paths):
                found.append(f"{entry.name}: {command}")
    return found


def _segments(repository: Path) -> set[str]:
    return {str(path.relative_to(repository)) for path in (repository / "data").rglob("*")
            if path.is_file()}  # fmt: skip


def _tree(directory: Path) -> dict[str, bytes]:
    return {str(path.relative_to(directory)): path.read_bytes()
            for path in sorted(directory.rglob("*")) if path.is_file()}  # fmt: skip


class BorgSite(Site):
    """The storage host for this module: slapd, store, config, login host, alice's repos.

    sshd runs ``borghive authkeys`` as ``nobody``; the namespace setup lets nobody reach
    the interpreter, the virtualenv and the checkout wherever they are (``expose_script``).
    """

    def __init__(self, client: Path) -> None:
        super().__init__(client, "k1", "k2")
        self.client = client  # pytest's 0700 tmp dir: private keys, borg's base dir, data
        self.server = public_dir("borghive-e2e-")  # config, store, AuthorizedKeysCommand
        self.root = self.repos
        self.config = self.server / "borghive.toml"
        self.database = self.server / "state" / "borghive.db"
        self.command = self.server / "authorized-keys"
        self.k1, self.k2 = self.keys["k1"], self.keys["k2"]
        self.users: dict[str, str] = {}  # repository name -> repository user
        self.uids: dict[str, int] = {}
        self.first_commands: dict[str, str | None] = {}  # what repo create printed
        self.mounts_before = _mounts()
        (client / "borg").mkdir()

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        self.slapd.start()
        self.database.parent.mkdir(mode=0o755)
        self.command.write_text(
            f'#!/bin/sh\nexec {BORGHIVE} --config {self.config} authkeys "$@"\n'
        )
        self.command.chmod(0o755)
        self.start_host(
            arguments="%u %t %k", command_user="nobody", namespace_setup=expose_script()
        )
        assert self.host is not None
        # The port is known only now; sshd reads the file at each login, not before.
        self.config.write_text(self._config_text(self.host.port))
        self.config.chmod(0o644)
        self.cli("migrate")
        self.database.chmod(0o644)
        self.cli("user", "add", "alice")
        for key in (self.k1, self.k2):
            self.cli("key", "add", "alice", str(key.with_suffix(".pub")), "--name", key.name)
        self.create("laptop", "--key", "k1")
        self.create("phone", "--append-only-key", "k2", "--quota", "20M")
        self.create("imp", "--mode", "import", "--key", "k1")

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.server, ignore_errors=True)

    def _config_text(self, port: int) -> str:
        slapd = self.slapd
        return toml_text({
            "store": {"url": f"sqlite:///{self.database}"},
            "repos": {"root": str(self.root), "host": "127.0.0.1", "ssh_port": port},
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
            },
        })  # fmt: skip

    # -- borghive, as an admin runs it ---------------------------------------------------

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(BORGHIVE), "--config", str(self.config), *args],
            capture_output=True, text=True, timeout=TIMEOUT, check=False,
        )  # fmt: skip
        if check:
            assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    def create(self, name: str, *options: str) -> None:
        created = json.loads(self.cli("repo", "create", f"alice/{name}", *options, "--json").stdout)
        self.users[name] = created["repository"]["repo_user"]
        self.uids[name] = created["repository"]["uid_number"]
        self.first_commands[name] = created["client_command"]

    def path(self, name: str) -> Path:
        return self.root / self.users[name] / name

    # -- clients -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self.host is not None
        return self.host.port

    def url(self, name: str, path: str | None = None) -> str:
        return f"ssh://{self.users[name]}@127.0.0.1:{self.port}{path or '/./' + name}"

    def borg(
        self, key: Path, name: str, *args: str, path: str | None = None, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``borg ARGS`` with ``BORG_REPO`` = repository ``name``'s URL, logging in with
        ``key``; ``path`` replaces the URL's path (``/./NAME``)."""
        assert self.host is not None
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.client),
            "LANG": "C.UTF-8",
            "BORG_RSH": shlex.join(self.host.ssh_argv(key)),
            "BORG_PASSPHRASE": PASSPHRASE,
            "BORG_BASE_DIR": str(self.client / "borg"),
            "BORG_REPO": self.url(name, path),
        }
        return subprocess.run(
            [str(BORG), *args], cwd=cwd or self.client, env=environment, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=TIMEOUT, check=False,
        )  # fmt: skip

    def sshd_said(self, text: str, since: int, timeout: float = 10.0) -> int:
        """The end of the first line of sshd's log after offset ``since`` that contains
        ``text`` (waiting for it, since sshd may log after the client has gone), else 0."""
        assert self.host is not None
        deadline = time.monotonic() + timeout
        while True:
            log = self.host.log
            found = log.find(text, since)
            if found >= 0:
                return log.find("\n", found) + 1 or len(log)
            if time.monotonic() > deadline:
                return 0
            time.sleep(0.05)

    def init(self, name: str, key: Path) -> None:
        """``borg init -e repokey`` of repository ``name`` unless done already."""
        if not (self.path(name) / "config").exists():
            _ok(self.borg(key, name, "init", "-e", "repokey"))

    def set_store_mode(self, name: str, mode: str) -> None:
        """Change a repository's mode in the store only, behind borghive's back."""
        with (
            contextlib.closing(sqlite3.connect(self.database, timeout=30)) as connection,
            connection,
        ):
            connection.execute(
                "UPDATE repository SET mode = ? WHERE repo_user = ?", (mode, self.users[name])
            )

    def rsync(self, key: Path, *args: str) -> subprocess.CompletedProcess[str]:
        assert self.host is not None
        return subprocess.run(
            ["rsync", "-e", shlex.join(self.host.ssh_argv(key)), *args],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT,
            check=False,
        )  # fmt: skip

    def remote(self, name: str) -> str:
        return f"{self.users[name]}@127.0.0.1:"

    def run_first_command(
        self, name: str, key: Path, local: Path
    ) -> subprocess.CompletedProcess[str]:
        """The rsync line ``repo create`` printed for ``name``, as printed, with the client's
        directory for SOURCE/ or DESTINATION/ and the test's key added to its ssh."""
        assert self.host is not None
        words = shlex.split(self.first_commands[name])
        assert words[:3] == ["rsync", "-a", "-e"] and words[3] == f"ssh -p {self.port}"
        words[3] = shlex.join(self.host.ssh_argv(key))
        places = {"SOURCE/": f"{local}/", "DESTINATION/": f"{local}/"}
        return subprocess.run(
            [places.get(word, word) for word in words],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT,
            check=False,
        )  # fmt: skip


def _ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    return result


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BorgSite]:
    _require()
    site = BorgSite(tmp_path_factory.mktemp("borg-login"))
    try:
        site.start()
        yield site
    finally:
        site.stop()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    (source / "notes.txt").write_text("borghive end to end\n")
    (source / "sub").mkdir()
    (source / "sub" / "random.bin").write_bytes(os.urandom(200_000))
    return source


def test_borg_init_create_list_extract_through_the_forced_command(
    site: BorgSite, files: Path
) -> None:
    assert site.host is not None
    home = site.root / site.users["laptop"]
    assert not home.exists()  # nothing makes the home before the first login

    site.init("laptop", site.k1)
    created = site.borg(site.k1, "laptop", "create", "::a1", str(files))
    listing = site.borg(site.k1, "laptop", "list", "--short")
    extracted = site.client / "extract"
    extracted.mkdir()
    extract = site.borg(site.k1, "laptop", "extract", "::a1", cwd=extracted)

    info = home.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (
        site.uids["laptop"], GID, 0o700,
    )  # fmt: skip
    assert (site.path("laptop") / "config").stat().st_uid == site.uids["laptop"]
    assert (_ok(created).stdout, _ok(listing).stdout) == ("", "a1\n")
    _ok(extract)
    assert _tree(extracted / files.relative_to("/")) == _tree(files)
    serve = (
        f"'BORGHIVE_KEY={_fingerprint(site.k1)} exec {BORG} serve --umask 0077 "
        f"--restrict-to-repository {site.path('laptop')}' "
        f"for {site.users['laptop']}"
    )
    assert f"Starting session: forced-command (key-option) {serve}" in site.host.log


def _fingerprint(private_key: Path) -> str:
    listed = subprocess.run(
        ["ssh-keygen", "-lf", f"{private_key}.pub"], capture_output=True, text=True, check=True
    )
    return listed.stdout.split()[1]


@pytest.mark.parametrize("command", [("id",), ("/bin/sh", "-c", "id"), ("bash", "-i")])
def test_a_login_runs_borg_serve_never_a_shell(site: BorgSite, command: tuple[str, ...]) -> None:
    assert site.host is not None

    result = site.host.ssh(site.users["laptop"], site.k1, *command)

    # borg serve parses the client's command (SSH_ORIGINAL_COMMAND) only for a few options:
    # a bare "id" is read as a program name without arguments, so borg prints its help and
    # exits; anything else is an argument error. No command of the client ever runs.
    assert "uid=" not in result.stdout + result.stderr
    assert result.stdout == "" or result.stdout.startswith("usage: borg ")
    assert result.returncode in (0, 2), result


@pytest.mark.parametrize("path", ["/./other", "/./../{phone}/phone", "/tmp/other"])
def test_any_other_path_than_the_repository_is_refused(site: BorgSite, path: str) -> None:
    site.init("laptop", site.k1)
    target = path.format(phone=site.users["phone"])

    result = site.borg(site.k1, "laptop", "init", "-e", "repokey", path=target)

    assert result.returncode == 2, result
    assert "Repository path not allowed" in result.stderr
    assert not (site.root / site.users["laptop"] / "other").exists()


def test_a_key_opens_only_the_repositories_it_was_granted(site: BorgSite) -> None:
    assert site.host is not None
    user = site.users["phone"]
    marker = len(site.host.log)

    login = site.host.ssh(user, site.k1, "true")
    borg = site.borg(site.k1, "phone", "list")

    assert login.returncode == 255
    assert f"{user}@127.0.0.1: Permission denied (publickey)" in login.stderr
    assert borg.returncode == 2
    first = site.sshd_said(f"Failed publickey for {user} from 127.0.0.1", marker)
    assert first and site.sshd_said(f"Failed publickey for {user} from 127.0.0.1", first)
    assert f"Accepted publickey for {user}" not in site.host.log[marker:]


def test_revoke_and_grant_take_effect_at_the_next_login(site: BorgSite) -> None:
    assert site.host is not None
    site.init("laptop", site.k1)

    site.cli("repo", "revoke", "alice/laptop", "k1")
    marker = len(site.host.log)
    revoked = site.borg(site.k1, "laptop", "list", "--short")
    refusal = site.sshd_said(f"Failed publickey for {site.users['laptop']} from", marker)
    site.cli("repo", "grant", "alice/laptop", "k1")
    granted = site.borg(site.k1, "laptop", "list", "--short")

    assert revoked.returncode == 2, revoked
    assert refusal
    assert "Accepted publickey" not in site.host.log[marker:refusal]
    _ok(granted)


def test_a_disabled_repository_refuses_the_login(site: BorgSite) -> None:
    assert site.host is not None
    site.init("laptop", site.k1)
    user = site.users["laptop"]
    marker = len(site.host.log)

    site.cli("repo", "set", "alice/laptop", "--mode", "disabled")
    disabled = site.borg(site.k1, "laptop", "list", "--short")
    refusal = site.sshd_said(f"Failed publickey for {user} from", marker)
    entry = site.slapd.ldapsearch(site.slapd.people_dn, f"(uid={user})", scope="one")
    # The second lock on its own: the store answers with the key again, the directory still
    # says shadowExpire 1, so sshd accepts the key and PAM (pam_ldap via nslcd) refuses.
    site.set_store_mode("laptop", "borg")
    try:
        locked = site.borg(site.k1, "laptop", "list", "--short")
    finally:
        site.set_store_mode("laptop", "disabled")
    site.cli("repo", "set", "alice/laptop", "--mode", "borg")
    enabled = site.borg(site.k1, "laptop", "list", "--short")

    assert disabled.returncode == 2
    assert refusal
    assert "Accepted publickey" not in site.host.log[marker:refusal]
    assert entry[0]["shadowExpire"] == ["1"]
    assert locked.returncode == 2
    assert site.sshd_said(f"Access denied for user {user} by PAM account configuration", refusal)
    assert "Account expired" in site.host.nslcd_log
    _ok(enabled)
    assert (
        "shadowExpire"
        not in site.slapd.ldapsearch(site.slapd.people_dn, f"(uid={user})", scope="one")[0]
    )


def test_an_append_only_key_leaves_every_segment_on_disk(
    site: BorgSite, files: Path, tmp_path: Path
) -> None:
    site.init("phone", site.k2)
    repository = site.path("phone")
    (tmp_path / "more.txt").write_text("second archive\n")
    _ok(site.borg(site.k2, "phone", "create", "::p1", str(files)))
    _ok(site.borg(site.k2, "phone", "create", "::p2", str(files), str(tmp_path)))
    before = {name: (repository / name).read_bytes() for name in _segments(repository)}

    deleted = site.borg(site.k2, "phone", "delete", "::p1")
    compacted = site.borg(site.k2, "phone", "compact")
    listing = site.borg(site.k2, "phone", "list", "--short")

    # Append-only does not refuse delete or compact; it keeps every old segment, unchanged,
    # so the operator can roll back to a transaction from before the deletion.
    _ok(deleted)
    _ok(compacted)
    assert _ok(listing).stdout == "p2\n"
    after = _segments(repository)
    assert set(before) < after
    assert {name: (repository / name).read_bytes() for name in before} == before
    assert (repository / "transactions").is_file()


def test_the_quota_stops_a_backup(site: BorgSite, tmp_path: Path) -> None:
    site.init("phone", site.k2)
    (tmp_path / "random.bin").write_bytes(os.urandom(40_000_000))  # incompressible

    result = site.borg(site.k2, "phone", "create", "::big", str(tmp_path))
    listing = site.borg(site.k2, "phone", "list", "--short")

    assert result.returncode == 2, result
    assert "The storage quota (20.00 MB) has been exceeded" in result.stderr
    assert "big" not in _ok(listing).stdout.split()


def test_a_new_import_repository_needs_no_manual_step(site: BorgSite, files: Path) -> None:
    """The import forced command creates the repository directory (0700, as the repository
    user); an export repository with nothing in it is refused by rrsync, cleanly."""
    assert site.host is not None
    site.create("fresh", "--mode", "import", "--key", "k2")
    site.create("exp", "--mode", "export", "--key", "k2")
    target = site.client / "fresh-export"
    target.mkdir()

    pushed = site.run_first_command("fresh", site.k2, files)
    pulled = site.run_first_command("exp", site.k2, target)

    _ok(pushed)
    assert _tree(site.path("fresh")) == _tree(files)
    assert stat.S_IMODE(site.path("fresh").stat().st_mode) == 0o700
    assert site.path("fresh").stat().st_uid == site.uids["fresh"]
    assert pulled.returncode != 0
    assert "Restricted directory does not exist" in pulled.stderr


def test_import_then_export_with_rsync(site: BorgSite, files: Path, tmp_path: Path) -> None:
    path = site.path("imp")
    uid = site.uids["imp"]
    pushed = site.rsync(site.k1, "-a", f"{files}/", site.remote("imp"))
    write_only = site.rsync(site.k1, "-a", site.remote("imp"), f"{tmp_path}/read/")
    site.cli("repo", "set", "alice/imp", "--mode", "export")
    pulled = site.rsync(site.k1, "-a", site.remote("imp"), f"{tmp_path}/pulled/")
    (tmp_path / "new.txt").write_text("not allowed\n")
    read_only = site.rsync(site.k1, "-a", f"{tmp_path}/new.txt", site.remote("imp"))

    _ok(pushed)
    assert _tree(path) == _tree(files)
    assert {item.stat().st_uid for item in path.rglob("*")} == {uid}
    assert write_only.returncode != 0
    assert "reading from write-only server is not allowed" in write_only.stderr
    _ok(pulled)
    assert _tree(tmp_path / "pulled") == _tree(files)
    assert read_only.returncode != 0
    assert "sending to read-only server is not allowed" in read_only.stderr
    assert not (path / "new.txt").exists()


def test_everything_stops_and_the_host_is_left_alone(site: BorgSite) -> None:
    assert site.host is not None
    host, slapd_pid = site.host, site.slapd.pid
    pids = host.pids()
    mounts_while_running = _mounts()
    directories = (site.server, site.root)

    site.stop()

    assert len(pids) >= 3  # the namespace's init, nslcd, sshd
    assert mounts_while_running == site.mounts_before == _mounts()
    assert host.pids() == []
    assert slapd_pid is not None
    assert [pid for pid in [*pids, slapd_pid] if Path(f"/proc/{pid}").exists()] == []
    assert _processes_mentioning(*directories) == []
    assert [str(path) for path in directories if path.exists()] == []
