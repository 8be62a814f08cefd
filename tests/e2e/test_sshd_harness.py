"""The SSH login harness itself: a real sshd + nslcd + PAM against a throwaway slapd.

Proves what the borghive end-to-end tests rely on: an LDAP account logs in with the key its
AuthorizedKeysCommand prints, the key's forced command wins over the client's, pam_mkhomedir
creates the home, an expired account (shadowExpire) is refused by PAM at once, and neither
the host's NSS/PAM configuration nor any process is left changed or running.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.openssh import installed_version, penalty_settings
from tests.harness.slapd import Slapd
from tests.harness.sshd import SSHD, LoginHost, Site, account_ldif, shadow_expire_ldif

pytestmark = [pytest.mark.sshd, pytest.mark.slapd, pytest.mark.e2e]

USER = "rtest001"
UID = 200001
GID = 200000
HOST_FILES = (
    "/etc/nsswitch.conf", "/etc/passwd", "/etc/group", "/etc/shadow", "/etc/pam.d",
    "/etc/nslcd.conf", "/var/log/btmp", "/var/log/wtmp", "/var/log/lastlog",
)  # fmt: skip


def _ldap(server: Slapd, program: str, ldif: str) -> None:
    """Run ldapadd/ldapmodify bound as the root DN (kept here, independent of Slapd's API)."""
    subprocess.run(
        [program, "-x", "-H", server.url, "-D", server.root_dn, "-y", str(server.password_file)],
        input=ldif, capture_output=True, text=True, check=True, timeout=60,
        env={**os.environ, "LDAPNOINIT": "1"},
    )  # fmt: skip


def _set_shadow_expire(server: Slapd, value: int | None) -> None:
    _ldap(server, "ldapmodify", shadow_expire_ldif(server, USER, value))


def _host_snapshot() -> dict[str, str]:
    """SHA-256 of every host file the harness must leave alone, with modes and link targets."""
    digest: dict[str, str] = {}
    for top in HOST_FILES:
        if not os.path.lexists(top):
            digest[top] = "absent"
            continue
        paths = [Path(top)] if not Path(top).is_dir() else sorted(Path(top).rglob("*"))
        for path in paths:
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                digest[str(path)] = f"link {os.readlink(path)}"
            elif stat.S_ISREG(info.st_mode):
                content = hashlib.sha256(path.read_bytes()).hexdigest()
                digest[str(path)] = f"{info.st_mode:o} {info.st_uid} {content}"
    return digest


def _host_mounts() -> list[str]:
    return [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]


def _new_site(work: Path) -> Site:
    """Keys ``user-key`` and ``other-key``, and a command that grants ``user-key`` to the
    user only, forcing ``echo forced-$USER``."""
    site = Site(work, "user-key", "other-key")
    public = site.keys["user-key"].with_suffix(".pub").read_text().strip()
    site.command.write_text(
        "#!/bin/sh\n"
        f'[ "$1" = {USER} ] || exit 0\n'
        f"printf '%s\\n' 'restrict,command=\"echo forced-$USER\" {public}'\n"
    )
    site.command.chmod(0o755)
    return site


def _start(site: Site) -> None:
    """slapd with the user and its group, then the login host."""
    site.slapd.start()
    home = site.repos / USER
    _ldap(site.slapd, "ldapadd", account_ldif(site.slapd, USER, UID, GID, "rtest", home))
    site.start_host()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    Site.require()
    site = _new_site(tmp_path_factory.mktemp("sshd"))
    try:
        _start(site)
        yield site
    finally:
        site.stop()


def test_login_runs_the_forced_command_and_creates_the_home(site: Site) -> None:
    assert site.host is not None
    home = site.repos / USER
    assert not home.exists()

    result = site.host.ssh(USER, site.keys["user-key"], "id")

    assert (result.returncode, result.stdout, result.stderr) == (0, f"forced-{USER}\n", "")
    info = home.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (UID, GID, 0o700)
    assert f"Accepted publickey for {USER} from 127.0.0.1" in site.host.log


def test_another_key_is_refused(site: Site) -> None:
    assert site.host is not None

    result = site.host.ssh(USER, site.keys["other-key"], "id")

    assert result.returncode == 255
    assert "Permission denied (publickey)" in result.stderr
    assert result.stdout == ""


def test_an_unknown_user_is_refused(site: Site) -> None:
    assert site.host is not None

    result = site.host.ssh("rtest999", site.keys["user-key"], "id")

    assert result.returncode == 255
    assert "Invalid user rtest999" in site.host.log


def test_an_expired_account_is_refused_by_pam_at_once(site: Site) -> None:
    assert site.host is not None
    _set_shadow_expire(site.slapd, 1)
    try:
        refused = site.host.ssh(USER, site.keys["user-key"], "id")
    finally:
        _set_shadow_expire(site.slapd, None)
    accepted_again = site.host.ssh(USER, site.keys["user-key"], "id")

    assert refused.returncode == 255, refused
    assert refused.stdout == ""
    assert f"Access denied for user {USER} by PAM account configuration" in site.host.log
    assert "Account expired" in site.host.nslcd_log
    assert accepted_again.stdout == f"forced-{USER}\n"


def test_many_refusals_do_not_lock_the_address_out(site: Site) -> None:
    """OpenSSH >= 9.8 would penalise 127.0.0.1 after a few refusals and drop the next
    login; the harness turns that off for the sshd it finds."""
    assert site.host is not None
    refused = [site.host.ssh(USER, site.keys["other-key"], "id") for _ in range(8)]
    accepted = site.host.ssh(USER, site.keys["user-key"], "id")

    assert [result.returncode for result in refused] == [255] * 8
    assert (accepted.returncode, accepted.stdout) == (0, f"forced-{USER}\n")
    assert "penalty" not in site.host.log


def test_sshd_config_fits_the_installed_sshd(site: Site) -> None:
    """The generated configuration names PerSourcePenalties exactly when the sshd found
    knows it; an sshd before 9.8 (Debian 12's 9.2) refuses the keyword as fatal."""
    assert site.host is not None and site.host.workdir is not None
    version = installed_version(SSHD)
    assert version is not None
    config = site.host.workdir / "sshd_config"
    text = config.read_text()
    assert ("PerSourcePenalties no\n" in text) == (version >= (9, 8))
    assert penalty_settings(version) in text
    # sshd -t inside the namespace, which has sshd's privilege-separation directory.
    checked = site.host.inside(SSHD, "-t", "-f", str(config))
    assert checked.returncode == 0, checked.stderr
    forced = site.host.workdir / "sshd_config.penalties"
    forced.write_text(text.replace("PerSourcePenalties no\n", "") + "PerSourcePenalties no\n")
    tried = site.host.inside(SSHD, "-t", "-f", str(forced))
    assert (tried.returncode == 0) == (version >= (9, 8)), tried.stderr
    if version < (9, 8):
        assert "Bad configuration option: PerSourcePenalties" in tried.stderr


def test_an_unsafe_authorized_keys_command_is_rejected_up_front(tmp_path: Path) -> None:
    command = tmp_path / "authorized-keys"
    command.write_text("#!/bin/sh\n")
    command.chmod(0o775)

    with pytest.raises(ValueError, match="group- or world-writable"):
        LoginHost("ldap://127.0.0.1:9", "dc=example,dc=org", command).start()


def test_the_host_is_left_as_it_was(tmp_path: Path) -> None:
    Site.require()
    before, mounts_before = _host_snapshot(), _host_mounts()
    site = _new_site(tmp_path)
    try:
        _start(site)
        assert site.host is not None and site.slapd.pid is not None
        host, slapd_pid = site.host, site.slapd.pid
        login = host.ssh(USER, site.keys["user-key"], "id")
        unknown = host.ssh("rtest999", site.keys["user-key"], "id")  # sshd records it in btmp
        pids = host.pids()
        workdir = host.workdir
        # Inside the namespace the test copies are mounted; outside nothing is.
        assert _host_mounts() == mounts_before
        assert _host_snapshot() == before
    finally:
        site.stop()

    assert login.stdout == f"forced-{USER}\n"
    assert unknown.returncode == 255
    assert len(pids) >= 3  # the namespace's init, nslcd, sshd
    assert [pid for pid in [*pids, slapd_pid] if Path(f"/proc/{pid}").exists()] == []
    assert host.pids() == []
    assert workdir is not None and not workdir.exists()
    assert _host_mounts() == mounts_before
    assert _host_snapshot() == before
