"""The command lines between storage hosts, built without I/O: ssh to a peer as root,
borghive on the peer, and rsync of a repository user's home over that ssh."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from borghive.config import Config
from borghive.rules.layout import home_path

# rsync keeps what borg and the account need: hard links (-H), sparse files (-S), owner,
# group, modes and times (-a) by number (--numeric-ids: the target's names may map
# elsewhere), deletes what the source no longer has, and keeps a partly sent file in a
# partial directory so that an interrupted copy resumes where it stopped.
RSYNC_OPTIONS = (
    "-aHS",
    "--numeric-ids",
    "--delete",
    "--partial",
    "--partial-dir=.rsync-partial",
    # The paths go to the remote rsync through its protocol, not through the remote shell.
    "--protect-args",
)


@dataclass(frozen=True)
class Peer:
    """How this host reaches a storage host as root: ``address`` (an IPv6 address
    without brackets) and ``port``, and where its repositories are."""

    name: str
    address: str
    port: int
    repos_root: str


def ssh_base(config: Config, port: int) -> list[str]:
    """ssh and its options (no host): batch mode (never a password prompt), the
    configured identity and known-hosts file; host keys are always checked."""
    hosts = config.hosts
    command = [str(hosts.ssh_path), "-p", str(port), "-o", "BatchMode=yes"]
    if hosts.ssh_identity_file is not None:
        command += ["-i", str(hosts.ssh_identity_file), "-o", "IdentitiesOnly=yes"]
    if hosts.ssh_known_hosts_file is not None:
        command += ["-o", f"UserKnownHostsFile={hosts.ssh_known_hosts_file}"]
    return command


def peer_command(config: Config, peer: Peer, arguments: list[str]) -> list[str]:
    """``ssh root@PEER <peer_command> ARGUMENTS``: ssh joins the remote words with
    spaces for the peer's shell, so each is quoted."""
    remote = " ".join(shlex.quote(word) for word in [config.hosts.peer_command, *arguments])
    return [*ssh_base(config, peer.port), f"root@{peer.address}", remote]


def _rsync_host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def rsync_command(
    config: Config,
    peer: Peer,
    repo_user: str,
    *,
    dry_run: bool = False,
    progress: bool = False,
    bwlimit: str | None = None,
) -> list[str]:
    """rsync of ``<root>/<repo user>/`` to the same directory under the peer's repos
    root. ``dry_run``: list the differences only (``-n --itemize-changes``): an exact
    copy lists nothing. File lists, sizes, times, modes and owners are compared, not the
    contents (no ``--checksum``: that reads every segment on both hosts again, and borg
    check on the target reads and checks every segment anyway)."""
    command = [str(config.hosts.rsync_path), *RSYNC_OPTIONS]
    if dry_run:
        command += ["-n", "--itemize-changes"]
    elif progress:
        command += ["--info=progress2"]
    if bwlimit:
        command += [f"--bwlimit={bwlimit}"]
    shell = " ".join(shlex.quote(word) for word in ssh_base(config, peer.port))
    command += ["-e", shell, "--rsync-path", str(config.hosts.rsync_path)]
    source = home_path(config.repos.root, repo_user) + "/"
    target = home_path(peer.repos_root, repo_user) + "/"
    return [*command, "--", source, f"root@{_rsync_host(peer.address)}:{target}"]
