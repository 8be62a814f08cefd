"""Doctor checks of what ``borghive authkeys`` really uses at login: the program sshd runs
and the user it runs as, the configuration file its command line names and the login copy
beside it, and the store it reads (on PostgreSQL, the login snapshot instead: see
borghive.service.doctor.snapshot).
"""

from __future__ import annotations

import stat
from pathlib import Path

from borghive.config import Config
from borghive.errors import BorghiveError
from borghive.login.cache import login_settings
from borghive.login.configfiles import LOGIN_CACHE_SUFFIX, has_overrides
from borghive.login.settings import cached_settings
from borghive.login.storeurl import describe, sqlite_path
from borghive.service.doctor.findings import Check, Status, worst
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
from borghive.service.doctor.sshd import KeyCommand, LoginTarget

# The tables borghive authkeys reads.
AUTHKEYS_TABLES = ("schema_migration", "repository", "access", "ssh_key")


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
    check = worst(problems, "root-owned, not group/world-writable on the way", name)
    return Check(name, check.status, f"{shown}: {check.detail}")


def readable_by(path: Path, who: Identity) -> str | None:
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
    file (on PostgreSQL it reads the login snapshot, never the store or its password)."""
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
    for path in secrets:
        reason = readable_by(path, who)
        if reason:
            problems.append(("FAIL", reason))
    read = ", ".join(str(p) for p in secrets) or "no configuration file (built-in defaults)"
    return worst(problems, f"{user} (uid {who.uid}) exists and reads {read}", name)


def check_store_access(config: Config, user: str) -> Check:
    """The command user can read the store: for SQLite, by the permissions of every
    directory on the way and of the file (and should not be able to write it); for
    PostgreSQL, the configured role (used by this host's snapshot builds) reads the tables
    the login snapshot is made of.
    """
    name = "store access"
    who = identity(user)
    if who is None:
        return Check(name, "FAIL", f"not checked: no user {user!r}")
    path = sqlite_path(config.store.url)
    if path is None:
        return _check_postgres_access(config, name)
    reason = readable_by(path, who)
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
    return worst(problems, f"{user} can read {path} and cannot write it", name)


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
        f"{where}: the configured role reads {', '.join(AUTHKEYS_TABLES)} (for the login "
        "snapshot; authkeys itself never connects)",
    )


def check_sshd_config(
    path: Path, commands: list[KeyCommand] | None, targets: list[LoginTarget], error: str | None
) -> Check:
    """sshd's configuration runs ``borghive authkeys %u …`` as some user."""
    name = "sshd config"
    if error is not None:
        return Check(name, "FAIL", error)
    if commands is None:
        return Check(name, "warn", f"{path} does not exist: sshd's command line not checked")
    if not targets:
        shown = "; ".join(f"{c.command!r} in {c.file}" for c in commands) or "none"
        return Check(
            name,
            "FAIL",
            f"no AuthorizedKeysCommand in {path} runs 'borghive authkeys %u' (found: {shown}); "
            "install etc/ssh/sshd_config.d/borghive.conf",
        )
    target = targets[0]
    if target.user is None:
        return Check(name, "FAIL", f"{target.where}: AuthorizedKeysCommandUser is not set")
    more = f" (and {len(targets) - 1} more)" if len(targets) > 1 else ""
    return Check(
        name,
        "ok",
        f"{target.where}: runs {target.program} authkeys as {target.user}, "
        f"configuration {target.config_file}{more}",
    )


def check_login_copy(config: Config, user: str) -> Check:
    """The login copy beside the configuration file that authkeys reads is current and
    readable by the command user (without it every login parses the whole file)."""
    name = "login copy"
    if config.source.startswith("<"):
        return Check(name, "ok", "no configuration file: authkeys uses the built-in defaults")
    source = Path(config.source).absolute()
    fix = f"run 'borghive --config {source} config check' as root"
    copy = Path(f"{source}{LOGIN_CACHE_SUFFIX}")
    if config_overridden():
        return Check(name, "warn", "BORGHIVE_* variables are set here: the copy was not checked")
    settings = cached_settings(str(source))
    if settings is None:
        return Check(
            name, "warn", f"{copy} is missing or not current: every login parses {source}; {fix}"
        )
    wanted = login_settings(config)
    if any(getattr(settings, key) != value for key, value in wanted.items()):
        return Check(name, "warn", f"{copy} differs from {source}; {fix}")
    who = identity(user)
    if who is not None:
        reason = readable_by(copy, who)
        if reason:
            return Check(name, "warn", f"{reason}: logins parse {source} instead; {fix}")
    return Check(name, "ok", f"{copy} is current")


def config_overridden() -> bool:
    """Whether BORGHIVE_* variables change this process's configuration (sshd passes none
    to authkeys, so the copy this process would compare is not the one logins read)."""
    import os

    return has_overrides(os.environ)
