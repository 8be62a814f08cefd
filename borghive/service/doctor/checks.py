"""``borghive doctor``: the setup mistakes that stop logins or the watch daemon, found early.

Each check is a small function returning a :class:`Check`; :func:`run_checks` runs them all.
Nothing here changes anything. Permissions are computed from ``stat`` and the command
user's uid and groups (POSIX ACLs are not evaluated), so the checks need no ``setuid``.
Paths into ``/proc`` are parameters, so tests can point them at files of their own.
"""

from __future__ import annotations

import contextlib
import grp
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from borghive.config import Config
from borghive.errors import BorghiveError
from borghive.login.storeurl import describe, sqlite_path
from borghive.service.doctor.permissions import (
    READ,
    SEARCH,
    WRITE,
    Identity,
    describe_mode,
    directories_to,
    identity,
    may,
    stat_or_none,
    user_name,
    writable_by,
)

Status = Literal["ok", "warn", "FAIL"]

DEFAULT_AUTHKEYS_COMMAND = Path("/usr/local/bin/borghive")
DEFAULT_COMMAND_USER = "borghive"
INOTIFY_DIR = Path("/proc/sys/fs/inotify")
# borghive watch: one watch on each home and one on each repository directory, plus room
# for the other inotify users of the same account (systemd, editors, …).
WATCHES_PER_REPOSITORY = 2
WATCHES_SPARE = 1000
MIN_INSTANCES = 8
_PERSIST = "and persist it in /etc/sysctl.d/60-borghive.conf"
# The tables borghive authkeys reads.
AUTHKEYS_TABLES = ("schema_migration", "repository", "access", "ssh_key")


@dataclass(frozen=True)
class Check:
    """One finding: ``status`` is ok, warn or FAIL; ``detail`` says what and how to fix."""

    name: str
    status: Status
    detail: str


def _worst(problems: list[tuple[Status, str]], ok_detail: str, name: str) -> Check:
    """One check from (status, text) problems: the worst status, the texts joined."""
    if not problems:
        return Check(name, "ok", ok_detail)
    status: Status = "FAIL" if any(s == "FAIL" for s, _ in problems) else "warn"
    return Check(name, status, "; ".join(text for _, text in problems))


# -- (a) sshd's AuthorizedKeysCommand ---------------------------------------------------------


def check_authkeys_command(path: Path, user: Identity | None = None) -> Check:
    """sshd runs the AuthorizedKeysCommand only if it is an absolute path to a root-owned,
    not group/world-writable file below root-owned, not group/world-writable directories
    (sshd checks the real path; the path as written is checked too, since a writable
    directory holding a symlink lets anyone swap it). With ``user``: it may also run it."""
    name = "authkeys command"
    if not path.is_absolute():
        return Check(name, "FAIL", f"{path}: sshd needs an absolute path")
    info = stat_or_none(path)
    if info is None:
        return Check(
            name,
            "FAIL",
            f"{path}: no such file; install borghive and link it: "
            f"ln -s /opt/borghive/bin/borghive {path}",
        )
    unsafe: list[str] = []  # what makes sshd refuse the command
    denied: list[str] = []  # what stops the command user from running it
    real = path.resolve()
    shown = str(path) if real == path else f"{path} -> {real}"
    for directory in directories_to(path):
        dir_info = stat_or_none(directory)
        if dir_info is None:  # pragma: no cover - the file exists, so its directories do
            continue
        if dir_info.st_uid != 0:
            unsafe.append(f"directory {directory} is owned by {user_name(dir_info.st_uid)}")
        writable = writable_by(dir_info.st_mode)
        if writable:
            unsafe.append(f"directory {directory} is {writable}")
        if user is not None and not may(dir_info, user, SEARCH):
            denied.append(f"{user.name} cannot search directory {directory}")
    if not stat.S_ISREG(info.st_mode):
        unsafe.append("it is not a regular file")
    if info.st_uid != 0:
        unsafe.append(f"it is owned by {user_name(info.st_uid)}, not root")
    writable = writable_by(info.st_mode)
    if writable:
        unsafe.append(f"it is {writable}")
    if not info.st_mode & 0o111:
        denied.append("it is not executable")
    elif user is not None and not (may(info, user, READ) and may(info, user, SEARCH)):
        denied.append(f"{user.name} cannot read and execute it")
    problems: list[tuple[Status, str]] = []
    if unsafe:
        problems.append(("FAIL", "sshd refuses to run it: " + "; ".join(unsafe)))
    problems.extend(("FAIL", text) for text in denied)
    check = _worst(problems, "root-owned, not group/world-writable on the way", name)
    return Check(name, check.status, f"{shown}: {check.detail}")


# -- (b) the AuthorizedKeysCommandUser ----------------------------------------------------------


def _readable(path: Path, who: Identity) -> str | None:
    """Why ``who`` cannot read ``path`` (None when it can)."""
    for directory in directories_to(path):
        info = stat_or_none(directory)
        if info is None:
            return f"{directory} does not exist"
        if not may(info, who, SEARCH):
            return f"{who.name} cannot search {directory} ({describe_mode(info)})"
    info = stat_or_none(path)
    if info is None:
        return f"{path} does not exist"
    if not may(info, who, READ):
        return f"{who.name} cannot read {path} ({describe_mode(info)})"
    return None


def check_command_user(config: Config, user: str) -> Check:
    """The user sshd runs ``borghive authkeys`` as exists and can read the configuration
    file (and the PostgreSQL password file)."""
    name = "command user"
    who = identity(user)
    if who is None:
        return Check(
            name,
            "FAIL",
            f"no user {user!r}: sshd refuses keys without its AuthorizedKeysCommandUser "
            f"(useradd --system --no-create-home --shell /usr/sbin/nologin {user})",
        )
    problems: list[tuple[Status, str]] = []
    if who.uid == 0:
        problems.append(("warn", f"{user} is root: give sshd's command an unprivileged user"))
    secrets: list[Path] = []
    if not config.source.startswith("<"):  # "<built-in defaults>" is no file
        secrets.append(Path(config.source))
    if sqlite_path(config.store.url) is None and config.store.password_file is not None:
        secrets.append(config.store.password_file)
    for path in secrets:
        reason = _readable(path, who)
        if reason:
            problems.append(("FAIL", reason))
    read = ", ".join(str(p) for p in secrets) or "no configuration file (built-in defaults)"
    return _worst(problems, f"{user} (uid {who.uid}) exists and reads {read}", name)


def check_store_access(config: Config, user: str) -> Check:
    """The command user can read the store: for SQLite, by the permissions of every
    directory on the way and of the file (and should not be able to write it); for
    PostgreSQL, by connecting with the configured role and reading the tables authkeys reads.
    """
    name = "store access"
    who = identity(user)
    if who is None:
        return Check(name, "FAIL", f"not checked: no user {user!r}")
    path = sqlite_path(config.store.url)
    if path is None:
        return _check_postgres_access(config, name)
    reason = _readable(path, who)
    if reason:
        return Check(
            name,
            "FAIL",
            f"{reason}; authkeys then refuses every key. Fix: chgrp {user} {path.parent} "
            f"{path} && chmod 0750 {path.parent} && chmod 0640 {path}",
        )
    problems: list[tuple[Status, str]] = []
    info, dir_info = path.stat(), path.parent.stat()
    if may(info, who, WRITE):
        problems.append(
            ("warn", f"{user} can write {path} ({describe_mode(info)}); it only needs to read")
        )
    if may(dir_info, who, WRITE):
        problems.append(
            (
                "warn",
                f"{user} can write {path.parent} ({describe_mode(dir_info)}), so it could "
                "replace the database; it only needs to search it",
            )
        )
    return _worst(problems, f"{user} can read {path} and cannot write it", name)


def _check_postgres_access(config: Config, name: str) -> Check:
    from borghive.store import execute, open_store

    where = describe(config.store.url)
    try:
        with open_store(config.store, readonly=True, check_schema=False) as db:
            for table in AUTHKEYS_TABLES:
                execute(f"SELECT 1 FROM {table} LIMIT 1", db=db)  # noqa: S608 - fixed names
    except BorghiveError as error:
        return Check(name, "FAIL", error.message)
    return Check(
        name,
        "ok",
        f"{where}: the configured role reads {', '.join(AUTHKEYS_TABLES)} (a SELECT-only "
        "role for authkeys is yours to set up)",
    )


# -- (c) borg and rrsync ----------------------------------------------------------------------


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
    return _worst(problems, f"{root}: {describe_mode(info)}", name)


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
    """The store opens and its schema is current; also returns how many repositories it
    holds (None when it cannot be read)."""
    from borghive.store import open_store
    from borghive.store.models import Repository

    name = "store"
    where = describe(config.store.url)
    try:
        with open_store(config.store, readonly=True):
            count = int(Repository.select().count())
    except BorghiveError as error:
        hint = f" ({error.hint})" if error.hint else ""
        return Check(name, "FAIL", error.message + hint), None
    return Check(name, "ok", f"{where}: schema current, {count} repositories"), count


# -- (f) LDAP -----------------------------------------------------------------------------------


def check_ldap(config: Config) -> Check:
    """With ``accounts.backend = "ldap"``: the directory answers and the bind works."""
    name = "ldap"
    if config.accounts.backend != "ldap":
        return Check(name, "ok", f"not used (accounts.backend = {config.accounts.backend})")
    from borghive.ldap.connection import connect

    try:
        connection = connect(config.ldap)
    except BorghiveError as error:
        return Check(name, "FAIL", error.message)
    # The answer is known; unbinding is a courtesy whose failure changes nothing.
    with contextlib.suppress(Exception):
        connection.unbind()
    who = config.ldap.bind_dn or "anonymous"
    return Check(name, "ok", f"{config.ldap.url} answers, bound as {who}")


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


# -- all of them --------------------------------------------------------------------------------


def _guarded(name: str, check: Callable[[], Check]) -> Check:
    """``check()``, or a FAIL naming the path it could not look at (e.g. run as non-root)."""
    try:
        return check()
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        return Check(
            name, "FAIL", f"cannot check{where}: {exc.strerror} (run borghive doctor as root)"
        )


def run_checks(
    config: Config,
    *,
    authkeys_command: Path = DEFAULT_AUTHKEYS_COMMAND,
    command_user: str = DEFAULT_COMMAND_USER,
    inotify_dir: Path = INOTIFY_DIR,
) -> list[Check]:
    """Every check, in the order an admin fixes things. Never raises for a finding."""
    store, repositories = check_store(config)
    if repositories is not None:
        needed = watches_needed(repositories)
    else:  # the store is unreadable: count what is on disk instead
        needed = watched_directories(config.repos.root) + WATCHES_SPARE
    borg, group = config.borg, config.repos.gid
    checks: list[tuple[str, Callable[[], Check]]] = [
        (
            "authkeys command",
            lambda: check_authkeys_command(authkeys_command, identity(command_user)),
        ),
        ("command user", lambda: check_command_user(config, command_user)),
        ("store access", lambda: check_store_access(config, command_user)),
        ("borg", lambda: check_program("borg", "borg.path", borg.path, group, required=True)),
        (
            "rrsync",
            lambda: check_program(
                "rrsync", "borg.rrsync_path", borg.rrsync_path, group, required=False
            ),
        ),
        ("repos root", lambda: check_repos_root(config)),
        ("repository group", lambda: check_repository_group(config, repositories)),
        ("ldap", lambda: check_ldap(config)),
        ("inotify watches", lambda: check_inotify_watches(needed, inotify_dir)),
        ("inotify instances", lambda: check_inotify_instances(inotify_dir)),
    ]
    return [store, *(_guarded(name, check) for name, check in checks)]
