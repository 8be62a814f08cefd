"""Repository users as accounts in this host's files (``accounts.backend = "local"``).

Every change goes through shadow-utils (``groupadd``, ``useradd``, ``usermod``,
``userdel``), which lock the files, write them atomically and flush nscd/sssd caches. Each
repository user's primary group is the repository users' group; the password stays locked
(``!``) because only SSH keys log in. A locked account has the expiry date 1 (1970-01-02)
in /etc/shadow, which PAM's pam_unix account check (and sshd) refuse. Accounts are read
back from /etc/passwd and /etc/shadow themselves, the files this backend writes; only the
``*_in_use`` questions ask NSS, because there any account counts, wherever it lives.
"""

from __future__ import annotations

import grp
import os
import pwd
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

from borghive.errors import (
    BorghiveError,
    ConfigError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
)
from borghive.rules.accounts import GECOS_PREFIX, AccountSpec, days_since_epoch

LOCKED_EXPIRE_DAY = 1
TOOLS_DIR = Path("/usr/sbin")
ETC_DIR = Path("/etc")
DEFAULT_TIMEOUT = 60.0

# The tools run with this environment only: a fixed PATH for anything they start (nscd,
# sss_cache, USERDEL_CMD) and the C locale so that their messages are the documented ones.
_ENVIRONMENT = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}

# useradd(8)/usermod(8)/groupadd(8) exit codes: 4 uid/gid taken, 9 name taken; usermod and
# userdel 6 no such user, 8 user logged in (a borg serve is running as it).
_EXIT_ID_TAKEN = 4
_EXIT_NO_SUCH_USER = 6
_EXIT_IN_USE = 8
_EXIT_NAME_TAKEN = 9

# useradd options for every account: no password ageing (a passwordless key-only account
# must never reach "password expired", which PAM turns into a refused or forced-change
# login) and no subordinate uid/gid ranges in /etc/subuid and /etc/subgid.
_USERADD_DEFAULTS = (
    "-K",
    "PASS_MAX_DAYS=-1",
    "-K",
    "SUB_UID_COUNT=0",
    "-K",
    "SUB_GID_COUNT=0",
)


def expiry_locks(expire_field: str, today: int) -> bool:
    """Whether a shadow(5) expiry field refuses logins on day ``today``.

    Empty (no expiry), unparsable, zero or negative fields and future days do not lock.
    """
    try:
        day = int(expire_field)
    except ValueError:
        return False
    return 0 < day <= today


def error_line(stderr: str) -> str:
    """The line of a tool's stderr that says why it failed.

    useradd warns on stderr before its error (e.g. "uid outside of the UID_MIN … range"),
    so the first line that is not a warning is taken; else the first line; else "".
    """
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if "warning" not in line.lower():
            return line
    return lines[0] if lines else ""


def tool_error(tool: str, returncode: int, stderr: str) -> BorghiveError:
    """The domain error for a failed shadow-utils command."""
    line = error_line(stderr) or f"{tool} failed with exit code {returncode}"
    if not line.startswith(f"{tool}:"):
        line = f"{tool}: {line}"
    lowered = line.lower()
    if returncode == _EXIT_IN_USE or "currently used by process" in lowered:
        return ConflictError(
            line, hint="the repository user is logged in; retry when its connection ends"
        )
    if returncode in (_EXIT_ID_TAKEN, _EXIT_NAME_TAKEN) or "already exists" in lowered:
        return ConflictError(line)
    if returncode == _EXIT_NO_SUCH_USER and "does not exist" in lowered:
        return NotFoundError(line)
    if os.geteuid() != 0:
        return BorghiveError(line, hint="the local accounts backend needs root")
    return BorghiveError(line)


def _records(path: Path) -> Iterator[list[str]]:
    """The colon-separated records of an /etc database file (comments and blanks skipped)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except PermissionError:
        raise ConfigError(
            f"{path}: permission denied", hint="the local accounts backend needs root"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    for line in text.splitlines():
        if line and not line.startswith(("#", "+", "-")):
            yield line.split(":")


def _check_name(name: str) -> str:
    # The service validates names; this only keeps a name from being read as an option.
    if not name or name.startswith("-"):
        raise InvalidInputError(f"not a usable account name: {name!r}")
    return name


class LocalAccounts:
    """The ``local`` accounts backend: shadow-utils on this host; needs root.

    ``group``/``gid_number`` are the repository users' group (created when missing);
    ``tools_dir`` holds the shadow-utils programs; ``etc_dir`` holds the passwd, shadow and
    group files that ``get``/``list_accounts`` read (the tools always write /etc, so only
    tests change it); ``timeout`` bounds each command in seconds. Failing commands raise
    ConflictError (name/id taken, user logged in), NotFoundError (no such user),
    ConfigError (tool or file missing/unreadable) or BorghiveError (anything else).
    """

    name = "local"

    def __init__(
        self,
        group: str,
        gid_number: int,
        *,
        tools_dir: Path = TOOLS_DIR,
        etc_dir: Path = ETC_DIR,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.group = group
        self.gid_number = gid_number
        self.tools_dir = tools_dir
        self.etc_dir = etc_dir
        self.timeout = timeout

    # -- plumbing -------------------------------------------------------------------

    def _run(self, tool: str, arguments: Sequence[str]) -> None:
        """Run a shadow-utils tool; raise the matching domain error when it fails."""
        program = self.tools_dir / tool
        try:
            result = subprocess.run(  # noqa: S603 - absolute path, no shell
                [str(program), *arguments],
                env=_ENVIRONMENT,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=self.timeout,
                check=False,
            )
        except FileNotFoundError:
            raise ConfigError(
                f"{program}: not found",
                hint="install shadow-utils (Debian: passwd) or choose another accounts.backend",
            ) from None
        except PermissionError:
            raise ConfigError(f"{program}: permission denied") from None
        except subprocess.TimeoutExpired:
            raise BorghiveError(
                f"{tool}: did not finish within {self.timeout:g} seconds",
                hint=f"a stale lock may remain in {self.etc_dir} (e.g. passwd.lock)",
            ) from None
        except OSError as exc:
            raise BorghiveError(f"{program}: cannot run: {exc.strerror}") from None
        if result.returncode != 0:
            raise tool_error(tool, result.returncode, result.stderr)

    def _ensure_group(self) -> None:
        """Create the repository users' group unless it exists with the configured gid."""
        _check_name(self.group)
        if self._group_gid() is None:
            try:
                self._run("groupadd", ["--gid", str(self.gid_number), "--", self.group])
            except ConflictError:
                # Another borghive process may have added it meanwhile; check below.
                if self._group_gid() is None:
                    raise
        found = self._group_gid()
        if found != self.gid_number:
            raise ConflictError(
                f"group {self.group!r} has gid {found}, expected {self.gid_number}",
                hint="set repos.gid to the group's gid, or repos.group to another name",
            )

    def _group_gid(self) -> int | None:
        try:
            return grp.getgrnam(self.group).gr_gid
        except KeyError:
            return None

    def close(self) -> None:
        return None

    def ready(self) -> None:
        return None

    # -- reading --------------------------------------------------------------------

    def uid_in_use(self, uid_number: int) -> bool:
        try:
            pwd.getpwuid(uid_number)
        except (KeyError, OverflowError):
            return False
        return True

    def name_in_use(self, name: str) -> bool:
        try:
            pwd.getpwnam(name)
        except KeyError:
            return False
        return True

    def list_members(self) -> set[str]:
        """None: borghive's local accounts are in the group through their primary group,
        and a supplementary member without an account is left to whoever added it."""
        return set()

    def _group_members(self) -> set[str]:
        """The supplementary members of the repository users' group in /etc/group."""
        members: set[str] = set()
        for record in _records(self.etc_dir / "group"):
            if len(record) >= 4 and record[0] == self.group:
                members.update(member for member in record[3].split(",") if member)
        return members

    def _read(self) -> dict[str, AccountSpec]:
        """Every account of /etc/passwd, with lock state and membership."""
        today = days_since_epoch()
        expiry = {
            record[0]: record[7] for record in _records(self.etc_dir / "shadow") if len(record) > 7
        }
        members = self._group_members()
        accounts: dict[str, AccountSpec] = {}
        for record in _records(self.etc_dir / "passwd"):
            if len(record) < 7:
                continue
            name, _, uid, gid, gecos, home, shell = record[:7]
            try:
                uid_number, gid_number = int(uid), int(gid)
            except ValueError:
                continue
            accounts[name] = AccountSpec(
                name=name,
                uid_number=uid_number,
                gid_number=gid_number,
                home=Path(home),
                shell=shell,
                gecos=gecos,
                locked=expiry_locks(expiry.get(name, ""), today),
                in_group=gid_number == self.gid_number or name in members,
            )
        return accounts

    def get(self, name: str) -> AccountSpec | None:
        return self._read().get(name)

    def list_accounts(self) -> dict[str, AccountSpec]:
        """Accounts of /etc/passwd that borghive made (gecos ``borghive …``)."""
        return {
            name: spec for name, spec in self._read().items() if spec.gecos.startswith(GECOS_PREFIX)
        }

    # -- writing --------------------------------------------------------------------

    def create(self, spec: AccountSpec) -> None:
        name = _check_name(spec.name)
        self._ensure_group()
        arguments = [
            "--uid",
            str(spec.uid_number),
            "--gid",
            str(spec.gid_number),
            "--home-dir",
            str(spec.home),
            "--no-create-home",
            "--shell",
            spec.shell,
            "--comment",
            spec.gecos,
            "--no-user-group",
            *_USERADD_DEFAULTS,
        ]
        if spec.locked:
            arguments += ["--expiredate", str(LOCKED_EXPIRE_DAY)]
        self._run("useradd", [*arguments, "--", name])

    def update(self, spec: AccountSpec) -> None:
        """Change what differs. usermod chowns the files under the home directory that
        belong to the old uid (and old primary group) when those change."""
        name = _check_name(spec.name)
        current = self.get(name)
        if current is None:
            raise NotFoundError(f"account {name!r} does not exist in {self.etc_dir}/passwd")
        arguments: list[str] = []
        if spec.gid_number != current.gid_number:
            if spec.gid_number == self.gid_number:
                self._ensure_group()
            arguments += ["--gid", str(spec.gid_number)]
        if spec.uid_number != current.uid_number:
            arguments += ["--uid", str(spec.uid_number)]
        if spec.home != current.home:
            arguments += ["--home", str(spec.home)]  # never --move-home: data stays put
        if spec.shell != current.shell:
            arguments += ["--shell", spec.shell]
        if spec.gecos != current.gecos:
            arguments += ["--comment", spec.gecos]
        if spec.locked != current.locked:
            arguments += ["--expiredate", str(LOCKED_EXPIRE_DAY) if spec.locked else ""]
        if arguments:
            self._run("usermod", [*arguments, "--", name])

    def lock(self, name: str) -> None:
        self._run("usermod", ["--expiredate", str(LOCKED_EXPIRE_DAY), "--", _check_name(name)])

    def unlock(self, name: str) -> None:
        self._run("usermod", ["--expiredate", "", "--", _check_name(name)])

    def delete(self, name: str) -> None:
        """Remove the account, never its home directory; a missing account is fine."""
        try:
            self._run("userdel", ["--", _check_name(name)])
        except NotFoundError:
            return
