"""Validation of the borg versions, maintenance and pings sections (called by
:func:`borghive.config_parse.validate`): borg names and paths, durations, the nightly
window, the listen address and the public URL."""

from __future__ import annotations

import ipaddress
import reprlib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from borghive.errors import InvalidInputError
from borghive.rules.names import borg_name_problem, path_problem
from borghive.rules.quantities import parse_duration
from borghive.rules.schedule import parse_every, parse_window
from borghive.rules.urls import UrlError, parse_url

if TYPE_CHECKING:
    from borghive.config import HostsConfig, MaintenanceConfig, PingsConfig, ReposConfig


def _quoter() -> reprlib.Repr:
    """Values as problems quote them: short, deep nesting cut off (repr itself recurses)."""
    quoter = reprlib.Repr()
    quoter.maxlevel, quoter.maxstring, quoter.maxother = 2, 60, 60
    quoter.maxlist = quoter.maxdict = 4
    return quoter


_QUOTE = _quoter()


def quoted(value: Any) -> str:
    """A value as a configuration problem quotes it."""
    return _QUOTE.repr(value)


def path_table(value: Any, where: str, problems: list[str]) -> Mapping[str, Path]:
    """A TOML table of names to paths, read-only; an entry that is not a non-empty string
    is appended to ``problems`` as ``where.NAME: …`` and left out (names and paths are
    checked by :func:`validate`)."""
    if not isinstance(value, dict):
        problems.append(
            f"{where}: expected a table of names to paths, got {type(value).__name__} "
            f"{quoted(value)}"
        )
        return MappingProxyType({})
    entries: dict[str, Path] = {}
    for name, path in value.items():
        if isinstance(path, str) and path:
            entries[name] = Path(path)
        elif isinstance(path, dict):  # 1.4 = "…" is TOML's dotted key 1 → 4
            problems.append(f'{where}.{name}: expected a path; quote a name with dots: "1.4" = …')
        else:
            problems.append(
                f"{where}.{name}: expected a path, got {type(path).__name__} {quoted(path)}"
            )
    return MappingProxyType(entries)


def borg_versions_problems(versions: Mapping[str, Path]) -> list[str]:
    """One problem per bad entry of ``[borg.versions]``: its name (repositories store it,
    ``repo set --borg`` takes it) or its path (it goes into sshd's forced command)."""
    problems: list[str] = []
    for name, path in versions.items():
        where = f"borg.versions.{repr(name[:40])[1:-1]}"
        if problem := borg_name_problem(name):
            problems.append(f"{where}: not a borg name: {problem}")
        elif name == "default":
            problems.append(f"{where}: reserved: --borg default means borg.path")
        elif path_problem(str(path)):
            problems.append(
                f"{where}: must be an absolute path of letters, digits and . _ - + /"
                " (it goes into sshd's forced command)"
            )
    return problems


def maintenance_problems(maintenance: MaintenanceConfig) -> list[str]:
    """One problem per bad key of [maintenance]."""
    problems: list[str] = []
    for key in ("compact_every", "check_every"):
        try:
            parse_every(getattr(maintenance, key))
        except InvalidInputError as exc:
            problems.append(f"maintenance.{key}: {exc.message}")
    for key in ("lock_alert_after", "delete_hold"):
        try:
            parse_duration(getattr(maintenance, key))
        except InvalidInputError as exc:
            problems.append(f"maintenance.{key}: {exc.message}")
    try:
        parse_window(maintenance.window)
    except InvalidInputError as exc:
        problems.append(f"maintenance.window: {exc.message}")
    return problems


def pings_problems(pings: PingsConfig) -> list[str]:
    """One problem per bad key of [pings]."""
    problems: list[str] = []
    try:
        ipaddress.ip_address(pings.listen)
    except ValueError:
        problems.append(f"pings.listen: {pings.listen[:60]!r} is not an IPv4 or IPv6 address")
    if pings.public_url:
        try:
            url = parse_url(pings.public_url, {"http", "https"})
            if url.has_credentials:
                problems.append("pings.public_url: contains a user or password")
            elif url.tail:
                problems.append("pings.public_url: has a query or fragment")
        except UrlError as exc:
            problems.append(f"pings.public_url: {exc.reason}")
    try:
        parse_duration(pings.run_timeout)
    except InvalidInputError as exc:
        problems.append(f"pings.run_timeout: {exc.message}")
    try:
        parse_networks(pings.trusted_proxies)
    except ValueError as exc:
        problems.append(f"pings.trusted_proxies: {exc}")
    if not pings.spool.is_absolute():
        problems.append("pings.spool: must be an absolute path")
    return problems


def parse_networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The networks of a comma-separated list of addresses or networks (``""``: none).
    Raises ValueError naming the first entry that is neither."""
    networks = []
    for item in text.split(","):
        entry = item.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry[:60]!r} is not an address or network") from None
    return tuple(networks)


# Durations of [hosts] with their limits in seconds: (key, shortest, longest, words).
_HOST_DURATIONS = (
    ("report_within", 1, 10 * 365 * 86400, ""),
    ("heartbeat", 10, 86400, "from 10s to 1d"),
    ("snapshot_refresh", 10, 86400, "from 10s to 1d"),
    ("snapshot_trust", 60, 7 * 86400, "from 1m to 7d"),
    ("move_wait", 1, 10 * 365 * 86400, ""),
)


def url_host_problem(template: str) -> str | None:
    """Why ``repos.url_host`` is not a host name template with ``{user}``, or None."""
    from borghive.rules.urls import host_problem

    if "{user}" not in template:
        return "must contain {user} (the repository user)"
    rest = template.replace("{user}", "")
    if "{" in rest or "}" in rest:
        return "only {user} may stand in braces"
    return host_problem(template.replace("{user}", "r0000000"))


def hosts_problems(hosts: HostsConfig, repos: ReposConfig) -> list[str]:
    """One problem per bad key of [hosts] (and repos.url_host)."""
    from borghive.rules.urls import host_problem

    problems: list[str] = []
    if repos.url_host and (problem := url_host_problem(repos.url_host)):
        problems.append(f"repos.url_host: {problem}")
    if hosts.peer_address and (problem := host_problem(hosts.peer_address)):
        problems.append(f"hosts.peer_address: {problem}")
    for key in ("ssh_identity_file", "ssh_known_hosts_file", "snapshot"):
        value = getattr(hosts, key)
        if value is not None and not value.is_absolute():
            problems.append(f"hosts.{key}: must be an absolute path")
    for key in ("ssh_path", "rsync_path"):
        if path_problem(str(getattr(hosts, key))):
            problems.append(
                f"hosts.{key}: must be an absolute path of letters, digits and . _ - + /"
            )
    command = hosts.peer_command
    if not command or (
        path_problem(command)
        if command.startswith("/")
        else not command.replace("-", "").replace("_", "").replace(".", "").isalnum()
        or not command.isascii()
    ):
        problems.append(
            "hosts.peer_command: must be a command name or an absolute path of letters, "
            "digits and . _ - + /"
        )
    for key, shortest, longest, words in _HOST_DURATIONS:
        try:
            seconds = parse_duration(getattr(hosts, key))
        except InvalidInputError as exc:
            problems.append(f"hosts.{key}: {exc.message}")
            continue
        if not shortest <= seconds <= longest:
            problems.append(f"hosts.{key}: must be a duration {words}")
    return problems
