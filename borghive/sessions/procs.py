"""The process behind a borg session, read from ``/proc``: its owner, start time, and the
markers in its environment.

The forced command starts ``borg serve`` (or rrsync) with ``BORGHIVE_KEY=<fingerprint>`` in
its environment (``command="BORGHIVE_KEY=SHA256:… exec borg serve …"``); sshd sets
``SSH_CONNECTION`` (``<client address> <client port> <server address> <server port>``).
borghive's own maintenance runs borg with ``BORGHIVE_MAINTENANCE=<action>``. A borg process
with neither marker was started by someone else on this host.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

KEY_MARKER = "BORGHIVE_KEY"
MAINTENANCE_MARKER = "BORGHIVE_MAINTENANCE"
_ENVIRON_LIMIT = 1 << 20


@dataclass(frozen=True)
class ProcessInfo:
    """What ``/proc/<pid>`` says about one process. ``started`` is seconds since the epoch
    (from the start tick in ``stat`` and the boot time); ``program`` the basename of the
    first word of its command line."""

    pid: int
    uid: int
    started: float
    program: str
    key_fingerprint: str | None
    maintenance: str | None
    source: str | None
    source_port: int | None

    @property
    def is_client(self) -> bool:
        return self.key_fingerprint is not None


def _read(path: str, limit: int) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        return os.read(fd, limit)
    except OSError:
        return None
    finally:
        os.close(fd)


def environment(pid: int) -> dict[str, str] | None:
    """The environment ``pid`` was started with (as exec gave it), or None when it is gone
    or not readable by us."""
    raw = _read(f"/proc/{pid}/environ", _ENVIRON_LIMIT)
    if raw is None:
        return None
    values: dict[str, str] = {}
    for entry in raw.split(b"\0"):
        name, equals, value = entry.partition(b"=")
        if equals:
            values[name.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    return values


@cache
def _boot_time() -> float | None:
    # Constant while the system runs; read once per process (a sweep asks for each pid).
    raw = _read("/proc/stat", 1 << 16)
    for line in (raw or b"").splitlines():
        if line.startswith(b"btime "):
            return float(line.split()[1])
    return None


def _start_ticks(pid: int) -> int | None:
    raw = _read(f"/proc/{pid}/stat", 4096)
    if not raw:
        return None
    # The command name (field 2) is in parentheses and may itself contain ") ".
    fields = raw[raw.rfind(b")") + 2 :].split()
    try:
        return int(fields[19])  # field 22 of stat(5); fields[0] is field 3
    except (IndexError, ValueError):
        return None


def start_time(pid: int) -> float | None:
    """When ``pid`` started, in seconds since the epoch; None when it is gone."""
    ticks, boot = _start_ticks(pid), _boot_time()
    if ticks is None or boot is None:
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def _source(connection: str | None) -> tuple[str | None, int | None]:
    parts = (connection or "").split()
    if len(parts) != 4 or not parts[1].isdigit():
        return None, None
    return parts[0][:64], int(parts[1])


def process_info(pid: int) -> ProcessInfo | None:
    """What ``/proc`` says about ``pid``, or None when it is gone or unreadable."""
    env = environment(pid)
    started = start_time(pid)
    try:
        uid = os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None
    if env is None or started is None:
        return None
    cmdline = _read(f"/proc/{pid}/cmdline", 4096) or b""
    first = cmdline.split(b"\0", 1)[0].decode("utf-8", "replace")
    program = os.path.basename(first)
    if program.startswith("python") and b"\0" in cmdline:
        # A console script (borg, rrsync) runs as "python3 /usr/bin/borg …".
        second = cmdline.split(b"\0")[1].decode("utf-8", "replace")
        program = os.path.basename(second) or program
    source, port = _source(env.get("SSH_CONNECTION"))
    return ProcessInfo(
        pid=pid,
        uid=uid,
        started=started,
        program=program[:16],
        key_fingerprint=(env.get(KEY_MARKER) or None),
        maintenance=(env.get(MAINTENANCE_MARKER) or None),
        source=source,
        source_port=port,
    )


def marked_processes(uids: set[int] | None = None) -> list[ProcessInfo]:
    """Every process on this host carrying a borghive marker (a client session or
    maintenance), optionally only those owned by ``uids``; sorted by pid."""
    found: list[ProcessInfo] = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return found
    for name in names:
        if not name.isdigit():
            continue
        pid = int(name)
        if uids is not None:
            try:
                if os.stat(f"/proc/{pid}").st_uid not in uids:
                    continue
            except OSError:
                continue
        env = environment(pid)
        if env is None or (KEY_MARKER not in env and MAINTENANCE_MARKER not in env):
            continue
        info = process_info(pid)
        if info is not None:
            found.append(info)
    return sorted(found, key=lambda info: info.pid)


def innermost_pid(pid: int) -> int | None:
    """``pid`` as the process's own pid namespace numbers it (the last ``NSpid`` of its
    status; the same number outside any namespace), the pid borg writes into its lock; None
    when it is gone."""
    raw = _read(f"/proc/{pid}/status", 1 << 14)
    for line in (raw or b"").splitlines():
        if line.startswith(b"NSpid:"):
            fields = line.split()[1:]
            return int(fields[-1]) if fields and fields[-1].isdigit() else pid
    return None if raw is None else pid


def parent_pid(pid: int) -> int | None:
    """``pid``'s parent (field 4 of its stat); None when it is gone."""
    raw = _read(f"/proc/{pid}/stat", 4096)
    if not raw:
        return None
    fields = raw[raw.rfind(b")") + 2 :].split()
    try:
        return int(fields[1])
    except (IndexError, ValueError):
        return None


def session_leaders(processes: list[ProcessInfo]) -> list[ProcessInfo]:
    """The processes among ``processes`` whose parent is not among them: a marked process's
    children inherit its environment (rrsync starts rsync, ``borg with-lock`` its command),
    and belong to its session rather than opening one of their own."""
    pids = {info.pid for info in processes}
    return [info for info in processes if parent_pid(info.pid) not in pids]
