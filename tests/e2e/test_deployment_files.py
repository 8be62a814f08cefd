"""The deployment files in ``etc/`` work with the real programs.

- ``etc/ssh/sshd_config.d/borghive.conf``: ``sshd -t`` accepts it when a Debian-like main
  configuration includes it, and ``sshd -T`` shows its settings for a member of the
  repository group and not for anybody else (the Match block ends with the file).
- ``etc/pam.d/sshd``, ``etc/nslcd.conf``, ``etc/nsswitch.conf.example`` and the Match
  block: a repository user from LDAP logs in through nslcd over StartTLS (``tls_reqcert
  demand``), the Match block applies to it, pam_mkhomedir makes its home, and an expired
  account is refused by the account stack.

sshd needs ``/run/sshd``, and the tests add users to NSS: everything runs in a private mount
namespace (tmpfs on /run, bind-mounted copies of /etc files), so the host stays as it was.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.environment import missing_service
from tests.harness.keys import keygen
from tests.harness.slapd import Slapd
from tests.harness.sshd import COMMAND_PATH, LoginHost, Site, account_ldif, shadow_expire_ldif

pytestmark = pytest.mark.e2e

ETC = Path(__file__).resolve().parents[2] / "etc"
SSHD_CONF = ETC / "ssh" / "sshd_config.d" / "borghive.conf"
SSHD = "/usr/sbin/sshd"
MEMBER, MEMBER_UID, GID = "rdoctor1", 200001, 200000

# What sshd -T prints for a member of borgrepos (sshd's lower-case spelling).
EXPECTED_FOR_MEMBERS = {
    "authorizedkeysfile": "none",
    "authorizedkeyscommand": "/usr/local/bin/borghive authkeys %u %t %k",
    "authorizedkeyscommanduser": "borghive",
    "passwordauthentication": "no",
    "kbdinteractiveauthentication": "no",
    "disableforwarding": "yes",
    "permittty": "no",
    "clientaliveinterval": "10",
    "clientalivecountmax": "30",
}


def _require_sshd() -> None:
    if not Path(SSHD).exists():
        missing_service(f"{SSHD} not found (apt-get install openssh-server)")
    if os.geteuid() != 0:
        missing_service("sshd -t needs root (host keys, privilege separation directory)")
    if shutil.which("unshare") is None:
        missing_service("unshare not found (apt-get install util-linux)")


def _main_config(directory: Path) -> Path:
    """Debian 12's sshd_config in short: the drop-in directory first, then global settings
    that a leaking Match block would swallow (Subsystem is not even allowed inside one)."""
    host_key = keygen(directory / "ssh_host_ed25519_key")
    dropins = directory / "sshd_config.d"
    dropins.mkdir()
    shutil.copy(SSHD_CONF, dropins / "borghive.conf")
    main = directory / "sshd_config"
    main.write_text(
        f"Include {dropins}/*.conf\n"
        f"HostKey {host_key}\n"
        "PasswordAuthentication yes\n"
        "KbdInteractiveAuthentication no\n"
        "UsePAM yes\n"
        "X11Forwarding yes\n"
        "PrintMotd no\n"
        "AcceptEnv LANG LC_*\n"
        "Subsystem sftp /usr/lib/openssh/sftp-server\n"
    )
    return main


def _in_namespace(script: str, directory: Path) -> subprocess.CompletedProcess[str]:
    """Run bash ``script`` as root in a private mount namespace where /run is a fresh tmpfs
    with /run/sshd, and /etc/passwd and /etc/group have a repository user and group."""
    passwd, group = directory / "passwd", directory / "group"
    passwd.write_text(
        Path("/etc/passwd").read_text()
        + f"{MEMBER}:x:{MEMBER_UID}:{GID}:borghive test:/nonexistent:/bin/sh\n"
    )
    group.write_text(Path("/etc/group").read_text() + f"borgrepos:x:{GID}:\n")
    prelude = (
        "set -eu\n"
        "mount -t tmpfs -o mode=0755 borghive-test-run /run\n"
        "mkdir -m 0755 /run/sshd\n"
        f"mount --bind {shlex.quote(str(passwd))} /etc/passwd\n"
        f"mount --bind {shlex.quote(str(group))} /etc/group\n"
    )
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "bash", "-c", prelude + script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _effective(output: str) -> dict[str, str]:
    settings: dict[str, str] = {}
    for line in output.splitlines():
        key, _, value = line.partition(" ")
        settings.setdefault(key, value)
    return settings


@pytest.mark.sshd
def test_sshd_accepts_the_drop_in(tmp_path: Path) -> None:
    _require_sshd()
    main = _main_config(tmp_path)
    result = _in_namespace(f"{SSHD} -t -f {shlex.quote(str(main))}", tmp_path)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr


def test_the_drop_in_leaves_per_source_penalties_to_the_main_configuration() -> None:
    """The keyword is global-only and unknown to OpenSSH before 9.8 (sshd 9.2 stops on it),
    so the shipped file only explains it in comments."""
    settings = [
        line.split()[0].lower()
        for line in SSHD_CONF.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert "match" in settings
    assert [key for key in settings if key.startswith("persourcepenalt")] == []
    assert "PerSourcePenaltyExemptList" in SSHD_CONF.read_text()  # the comment says what to add


@pytest.mark.sshd
def test_the_match_block_applies_to_repository_users_only(tmp_path: Path) -> None:
    _require_sshd()
    main = shlex.quote(str(_main_config(tmp_path)))
    connection = "host=client.example.org,addr=192.0.2.10,laddr=192.0.2.1,lport=22"
    result = _in_namespace(
        f"{SSHD} -T -f {main} -C user={MEMBER},{connection}\necho ----\n"
        f"{SSHD} -T -f {main} -C user=root,{connection}\n",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    member_text, other_text = result.stdout.split("----\n")
    member, other = _effective(member_text), _effective(other_text)
    assert {key: member.get(key) for key in EXPECTED_FOR_MEMBERS} == EXPECTED_FOR_MEMBERS
    # Anybody else keeps the main configuration's values.
    assert other["authorizedkeyscommand"] == "none"
    assert other["passwordauthentication"] == "yes"
    assert other["permittty"] == "yes"
    assert other["clientaliveinterval"] == "0"
    assert other["x11forwarding"] == "yes" == member["x11forwarding"]


# -- a real login through the PAM, NSS and nslcd files --------------------------------------------


def _adapted_nslcd_conf(server: Slapd, ca_file: str) -> str:
    """etc/nslcd.conf pointed at the test server; every other line as shipped."""
    text = (ETC / "nslcd.conf").read_text()
    replacements = {
        r"^uri .*$": f"uri {server.url}",
        r"^tls_cacertfile .*$": f"tls_cacertfile {ca_file}",
        r"^binddn .*$": f"binddn {server.service_dn}",
        r"^bindpw .*$": f"bindpw {server.service_password}",
    }
    for pattern, value in replacements.items():
        text, count = re.subn(pattern, value, text, flags=re.MULTILINE)
        assert count == 1, pattern
    # The shipped bases name the same tree as the test server's.
    for base in ("dc=example,dc=org", "ou=people,dc=example,dc=org", "ou=groups,dc=example,dc=org"):
        assert base in text
    return "# nslcd cache off: see every change at once\ncache dn2uid off\n" + text


def _adapted_match_block() -> str:
    """The shipped Match block with the harness's command path and command user. The test
    command prints how many arguments it got: three (%u %t %k) under the Match block, one
    under the harness's global AuthorizedKeysCommand."""
    text = SSHD_CONF.read_text()
    text = text.replace("/usr/local/bin/borghive authkeys %u %t %k", f"{COMMAND_PATH} %u %t %k")
    text = text.replace("AuthorizedKeysCommandUser borghive", "AuthorizedKeysCommandUser nobody")
    assert COMMAND_PATH in text and "AuthorizedKeysCommandUser nobody" in text
    return "\n" + text


def _set_shadow_expire(server: Slapd, value: int | None) -> None:
    server.ldapmodify(shadow_expire_ldif(server, MEMBER, value))


def _start(site: Site) -> LoginHost:
    """slapd (StartTLS) with a repository user and group, and a login host using the shipped
    PAM, NSS and nslcd files; its command grants ``user-key`` to the member only."""
    public = site.keys["user-key"].with_suffix(".pub").read_text().strip()
    site.command.write_text(
        "#!/bin/sh\n"
        f'[ "$1" = {MEMBER} ] || exit 0\n'
        f'printf \'%s\\n\' "restrict,command=\\"echo arguments=$#\\" {public}"\n'
    )
    site.command.chmod(0o755)
    site.slapd.start()
    home = site.repos / MEMBER
    site.slapd.ldapadd(account_ldif(site.slapd, MEMBER, MEMBER_UID, GID, "borgrepos", home))
    nslcd_conf = site.work / "nslcd.conf"
    nslcd_conf.write_text(_adapted_nslcd_conf(site.slapd, "/run/borghive-test-ca.pem"))
    nsswitch = ETC / "nsswitch.conf.example"
    # After the harness's own mounts, before nslcd starts: the shipped files on top.
    setup = (
        f"install -m 0644 {shlex.quote(str(site.slapd.ca_file))} /run/borghive-test-ca.pem\n"
        f"install -m 0640 -o root -g nslcd {shlex.quote(str(nslcd_conf))} "
        "/run/borghive-test-nslcd.conf\n"
        "mount --bind /run/borghive-test-nslcd.conf /etc/nslcd.conf\n"
        f"mount --bind {shlex.quote(str(nsswitch))} /etc/nsswitch.conf\n"
    )
    return site.start_host(
        bind=False,
        arguments="%u",
        pam_sshd=(ETC / "pam.d" / "sshd").read_text(),
        sshd_config=_adapted_match_block(),
        namespace_setup=setup,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    Site.require(tls=True)
    site = Site(tmp_path_factory.mktemp("deployment"), "user-key", tls=True)
    try:
        _start(site)
        yield site
    finally:
        site.stop()


@pytest.mark.sshd
@pytest.mark.slapd
def test_a_repository_user_logs_in_through_the_shipped_files(site: Site) -> None:
    assert site.host is not None
    home = site.repos / MEMBER
    assert not home.exists()

    result = site.host.ssh(MEMBER, site.keys["user-key"], "id")

    assert (result.returncode, result.stdout, result.stderr) == (0, "arguments=3\n", ""), (
        site.host.log
    )
    info = home.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (MEMBER_UID, GID, 0o700)


@pytest.mark.sshd
@pytest.mark.slapd
def test_an_expired_repository_user_is_refused(site: Site) -> None:
    assert site.host is not None
    _set_shadow_expire(site.slapd, 1)
    try:
        refused = site.host.ssh(MEMBER, site.keys["user-key"], "id")
    finally:
        _set_shadow_expire(site.slapd, None)

    assert refused.returncode == 255
    assert f"Access denied for user {MEMBER} by PAM account configuration" in site.host.log
    assert site.host.ssh(MEMBER, site.keys["user-key"], "id").stdout == "arguments=3\n"
