"""``borghive doctor``: the setup mistakes that stop logins or the watch daemon, found early.

Each check is a small function returning a :class:`Check` (``login.py``: what sshd's
login runs; ``host.py``: the rest of the host); :func:`run_checks` runs them all in the
order an admin fixes things. Nothing here changes anything. Permissions are computed from
``stat`` and the command user's uid and groups (POSIX ACLs are not evaluated), so the checks
need no ``setuid``. Paths into ``/proc`` are parameters, so tests can point them at files of
their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from borghive.config import Config
from borghive.config_load import load_config
from borghive.errors import BorghiveError
from borghive.service.doctor.borgs import check_borg, configured_borgs
from borghive.service.doctor.findings import Check, guarded
from borghive.service.doctor.host import (
    INOTIFY_DIR,
    WATCHES_SPARE,
    check_inotify_instances,
    check_inotify_watches,
    check_ldap,
    check_program,
    check_quotas,
    check_repos_root,
    check_repository_group,
    check_store,
    watched_directories,
    watches_needed,
)
from borghive.service.doctor.login import (
    check_authkeys_command,
    check_command_user,
    check_login_copy,
    check_sshd_config,
    check_store_access,
)
from borghive.service.doctor.permissions import identity
from borghive.service.doctor.placement import check_placement
from borghive.service.doctor.snapshot import check_login_snapshot
from borghive.service.doctor.sshd import (
    DEFAULT_SSHD_CONFIG,
    KeyCommand,
    LoginTarget,
    SshdConfigError,
    key_commands,
    login_target,
)

DEFAULT_AUTHKEYS_COMMAND = Path("/usr/local/bin/borghive")
DEFAULT_COMMAND_USER = "borghive"


@dataclass(frozen=True)
class Login:
    """What logins run, as far as doctor found out: the program, its user and the
    configuration authkeys reads (None when that file does not load: ``problem`` says why)."""

    program: Path
    user: str
    config: Config | None
    finding: Check
    problem: Check | None = None


def find_login(
    config: Config,
    sshd_config: Path,
    authkeys_command: Path | None = None,
    command_user: str | None = None,
) -> Login:
    """The login as sshd's configuration describes it; ``authkeys_command`` and
    ``command_user`` replace what it says (or the defaults, when it says nothing)."""
    commands: list[KeyCommand] | None = None
    targets: list[LoginTarget] = []
    error = None
    try:
        if sshd_config.exists():
            commands = key_commands(sshd_config)
            targets = [t for c in commands if (t := login_target(c)) is not None]
    except SshdConfigError as exc:
        error = str(exc)
    finding = check_sshd_config(sshd_config, commands, targets, error)
    target = targets[0] if targets else None
    program = authkeys_command or (target.program if target else DEFAULT_AUTHKEYS_COMMAND)
    user = command_user or (target.user if target and target.user else DEFAULT_COMMAND_USER)
    if target is None or _same_file(target.config_file, config.source):
        return Login(program, user, config, finding)
    try:
        # sshd gives the command no BORGHIVE_* variables
        login_config = load_config(target.config_file, environ={})
    except BorghiveError as exc:
        problem = Check("login configuration", "FAIL", f"{target.config_file}: {exc.message}")
        return Login(program, user, None, finding, problem)
    return Login(program, user, login_config, finding)


def _same_file(path: Path, source: str) -> bool:
    if source.startswith("<"):
        return not path.exists()  # both mean the built-in defaults
    return path.absolute() == Path(source).absolute()


def run_checks(
    config: Config,
    *,
    sshd_config: Path = DEFAULT_SSHD_CONFIG,
    authkeys_command: Path | None = None,
    command_user: str | None = None,
    inotify_dir: Path = INOTIFY_DIR,
) -> list[Check]:
    """Every check, in the order an admin fixes things. Never raises for a finding. The
    login checks use the configuration file sshd's command line names."""
    login = find_login(config, sshd_config, authkeys_command, command_user)
    user = login.user
    store, repositories = check_store(config)
    if repositories is not None:
        needed = watches_needed(repositories)
    else:  # the store is unreadable: count what is on disk instead
        needed = watched_directories(config.repos.root) + WATCHES_SPARE
    rrsync, group = config.borg.rrsync_path, config.repos.gid
    checks: list[tuple[str, Callable[[], Check]]] = [
        ("authkeys command", lambda: check_authkeys_command(login.program, identity(user))),
    ]
    if login.config is not None:
        used = login.config
        checks += [
            ("command user", lambda: check_command_user(used, user)),
            ("login copy", lambda: check_login_copy(used, user)),
            ("store access", lambda: check_store_access(used, user)),
            ("login snapshot", lambda: check_login_snapshot(used, user)),
        ]
    checks += [
        *[(borg.check_name, partial(check_borg, borg, group)) for borg in configured_borgs(config)],
        (
            "rrsync",
            lambda: check_program("rrsync", "borg.rrsync_path", rrsync, group, required=False),
        ),
        ("placement", lambda: check_placement(config)),
        ("repos root", lambda: check_repos_root(config)),
        ("repository group", lambda: check_repository_group(config, repositories)),
        *([("quotas", lambda: check_quotas(config))] if repositories is not None else []),
        ("ldap", lambda: check_ldap(config)),
        ("inotify watches", lambda: check_inotify_watches(needed, inotify_dir)),
        ("inotify instances", lambda: check_inotify_instances(inotify_dir)),
    ]
    problem = [] if login.problem is None else [login.problem]
    return [login.finding, *problem, store, *(guarded(name, check) for name, check in checks)]
