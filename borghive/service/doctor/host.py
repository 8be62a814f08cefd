"""Doctor checks of the host itself: borg and rrsync, the repository tree and group, the
store, the LDAP directory and the inotify limits of ``borghive watch``."""

from __future__ import annotations

import grp
import os
import stat
from pathlib import Path

from borghive.config import Config
from borghive.errors import BorghiveError
from borghive.login.storeurl import describe, sqlite_path
from borghive.service.doctor.findings import Check, Status, worst
from borghive.service.doctor.permissions import (
    READ,
    SEARCH,
    Identity,
    describe_mode,
    directories_to,
    may,
    stat_or_none,
    user_name,
)

INOTIFY_DIR = Path("/proc/sys/fs/inotify")
# borghive watch: one watch on each home and one on each repository directory, plus room
# for the other inotify users of the same account (systemd, editors, …).
WATCHES_PER_REPOSITORY = 2
WATCHES_SPARE = 1000
MIN_INSTANCES = 8
_PERSIST = "and persist it in /etc/sysctl.d/60-borghive.conf"


def check_program(name: str, key: str, path: Path, group: int, *, required: bool) -> Check:
    """``path`` is a file that repository users (group ``group``) may read and execute."""
    status: Status = "FAIL" if required else "warn"
    why = "" if required else " (needed only by repositories in import or export mode)"
    info = stat_or_none(path)
    if info is None:
        return Check(name, status, f"{key} {path} does not exist{why}")
    users = Identity("repository users", -1, frozenset({group}))
    if not stat.S_ISREG(info.st_mode):
        return Check(name, status, f"{key} {path} is not a regular file{why}")
    for directory in directories_to(path):
        dir_info = stat_or_none(directory)
        if dir_info is not None and not may(dir_info, users, SEARCH):
            return Check(name, status, f"repository users cannot search {directory}{why}")
    if not (may(info, users, READ) and may(info, users, SEARCH)):
        return Check(
            name,
            status,
            f"repository users cannot read and execute {path} ({describe_mode(info)}){why}",
        )
    return Check(name, "ok", f"{path} is executable by repository users")


# -- (d) the repository tree --------------------------------------------------------------------


def _inside(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def check_repos_root(config: Config) -> Check:
    """The repository tree exists, is root's and not writable by others, and is apart from
    the store (repository users and borghive watch must never see the database there)."""
    name = "repos root"
    root = config.repos.root
    info = stat_or_none(root)
    if info is None:
        return Check(name, "FAIL", f"{root} does not exist (install -d -m 0755 {root})")
    if not stat.S_ISDIR(info.st_mode):
        return Check(name, "FAIL", f"{root} is not a directory")
    problems: list[tuple[Status, str]] = []
    if info.st_uid != 0:
        problems.append(("FAIL", f"{root} is owned by {user_name(info.st_uid)}, not root"))
    if info.st_mode & 0o002:
        problems.append(("FAIL", f"{root} is world-writable (chmod 0755 {root})"))
    elif info.st_mode & 0o020:
        problems.append(("warn", f"{root} is group-writable (chmod g-w {root})"))
    database = sqlite_path(config.store.url)
    if database is not None:
        real_root, real_database = root.resolve(), database.resolve()
        if _inside(real_database, real_root) or _inside(real_root, real_database.parent):
            problems.append(
                ("FAIL", f"the store {database} and the repos root {root} share a path")
            )
    return worst(problems, f"{root}: {describe_mode(info)}", name)


def check_repository_group(config: Config, repositories: int | None = None) -> Check:
    """The repository users' group resolves with its configured name and gid: sshd's
    ``Match Group`` depends on it. The ldap and local backends make the group with the
    first repository, so before that (``repositories == 0``) its absence only warns."""
    name = "repository group"
    group, gid = config.repos.group, config.repos.gid
    try:
        by_name = grp.getgrnam(group).gr_gid
    except KeyError:
        backend = config.accounts.backend
        if backend != "none" and repositories == 0:
            return Check(
                name,
                "warn",
                f"group {group!r} does not resolve yet: the {backend} accounts backend "
                "makes it with the first repository; run borghive doctor again after that",
            )
        return Check(
            name,
            "FAIL",
            f"group {group!r} does not resolve (getent group {group}): sshd's "
            f"'Match Group {group}' never matches, so repository users get no keys",
        )
    if by_name != gid:
        return Check(name, "FAIL", f"group {group!r} has gid {by_name}, repos.gid is {gid}")
    return Check(name, "ok", f"{group} (gid {gid}) resolves")


# -- (e) the store ------------------------------------------------------------------------------


def check_store(config: Config) -> tuple[Check, int | None]:
    """The store opens and its schema is current; also returns how many repositories live
    on this host (what its watch daemon watches; None when the store cannot be read)."""
    from borghive.service.hosts.identity import local_condition
    from borghive.store import open_store
    from borghive.store.models import Repository

    name = "store"
    where = describe(config.store.url)
    try:
        with open_store(config.store, readonly=True):
            total = int(Repository.select().count())
            count = int(Repository.select().where(local_condition(config)).count())
    except BorghiveError as error:
        hint = f" ({error.hint})" if error.hint else ""
        return Check(name, "FAIL", error.message + hint), None
    held = f"{total} repositories" + ("" if count == total else f" ({count} on this host)")
    return Check(name, "ok", f"{where}: schema current, {held}"), count


def check_quotas(config: Config) -> Check:
    """No repository of this host has a stored quota that borg serve refuses: its forced
    command would make every login fail (quotas stored before borghive refused them)."""
    from borghive.rules.quotas import MIN_STORAGE_QUOTA, MIN_STORAGE_QUOTA_TEXT, shown_quota
    from borghive.service.hosts.identity import local_condition
    from borghive.store import open_store, rows
    from borghive.store.models import Repository, User

    name = "quotas"
    try:
        with open_store(config.store, readonly=True):
            small = rows(
                Repository.select(User.name, Repository.name, Repository.quota)
                .join(User)
                .where((Repository.quota < MIN_STORAGE_QUOTA) & local_condition(config))
                .order_by(User.name, Repository.name)
            )
    except BorghiveError as error:
        return Check(name, "FAIL", f"cannot read the quotas: {error.message}")
    if not small:
        return Check(name, "ok", f"no repository has a quota below {MIN_STORAGE_QUOTA_TEXT}")
    listed = ", ".join(f"{owner}/{repo} ({shown_quota(quota)})" for owner, repo, quota in small)
    return Check(
        name,
        "FAIL",
        f"borg serve refuses a storage quota below {MIN_STORAGE_QUOTA_TEXT}, so every login "
        f"to these fails: {listed} (borghive repo set OWNER/NAME --quota 10M, or --quota none)",
    )


# -- (f) LDAP -----------------------------------------------------------------------------------


def check_ldap(config: Config) -> Check:
    """With ``accounts.backend = "ldap"``: the directory answers, the bind works, and it
    allows what ``repo create`` needs short of writing (see borghive.ldap.probe)."""
    name = "ldap"
    if config.accounts.backend != "ldap":
        return Check(name, "ok", f"not used (accounts.backend = {config.accounts.backend})")
    from borghive.ldap.probe import probe_directory

    try:
        detail = probe_directory(config.ldap, config.repos.group, config.repos.gid)
    except BorghiveError as error:
        hint = f" ({error.hint})" if error.hint else ""
        return Check(name, "FAIL", error.message + hint)
    return Check(name, "ok", detail)


# -- (g) inotify --------------------------------------------------------------------------------


def watched_directories(root: Path) -> int:
    """Homes and repository directories below ``root`` (what borghive watch watches)."""
    count = 0
    try:
        homes = [entry for entry in os.scandir(root) if entry.is_dir(follow_symlinks=False)]
    except OSError:
        return 0
    for home in homes:
        count += 1
        try:
            count += sum(1 for e in os.scandir(home.path) if e.is_dir(follow_symlinks=False))
        except OSError:
            continue
    return count


def _read_limit(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def check_inotify_watches(needed: int, proc_dir: Path = INOTIFY_DIR) -> Check:
    """``fs.inotify.max_user_watches`` (read from ``proc_dir``) is at least ``needed``."""
    name, key = "inotify watches", "fs.inotify.max_user_watches"
    watches = _read_limit(proc_dir / "max_user_watches")
    if watches is None:
        return Check(name, "FAIL", f"cannot read {proc_dir}/max_user_watches")
    if watches < needed:
        return Check(
            name,
            "FAIL",
            f"{key} is {watches}, borghive watch needs at least {needed}: "
            f"sysctl -w {key}={needed * 2} {_PERSIST}",
        )
    return Check(name, "ok", f"{key} {watches} >= {needed} needed")


def check_inotify_instances(proc_dir: Path = INOTIFY_DIR) -> Check:
    """``fs.inotify.max_user_instances`` (read from ``proc_dir``) is not tiny."""
    name, key = "inotify instances", "fs.inotify.max_user_instances"
    instances = _read_limit(proc_dir / "max_user_instances")
    if instances is None:
        return Check(name, "FAIL", f"cannot read {proc_dir}/max_user_instances")
    if instances < MIN_INSTANCES:
        return Check(name, "warn", f"{key} is {instances}: sysctl -w {key}=128 {_PERSIST}")
    return Check(name, "ok", f"{key} {instances} >= {MIN_INSTANCES}")


def watches_needed(repositories: int) -> int:
    """Watches borghive watch needs for ``repositories`` (a home and a directory each)."""
    return WATCHES_PER_REPOSITORY * repositories + WATCHES_SPARE
