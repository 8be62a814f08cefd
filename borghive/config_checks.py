"""Validation of the maintenance and pings sections (called by
:func:`borghive.config_parse.validate`): durations, the nightly window, the listen
address and the public URL."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from borghive.errors import InvalidInputError
from borghive.rules.quantities import parse_duration
from borghive.rules.schedule import parse_every, parse_window
from borghive.rules.urls import UrlError, parse_url

if TYPE_CHECKING:
    from borghive.config import MaintenanceConfig, PingsConfig


def maintenance_problems(maintenance: MaintenanceConfig) -> list[str]:
    """One problem per bad key of [maintenance]."""
    problems: list[str] = []
    for key in ("compact_every", "check_every"):
        try:
            parse_every(getattr(maintenance, key))
        except InvalidInputError as exc:
            problems.append(f"maintenance.{key}: {exc.message}")
    try:
        parse_duration(maintenance.lock_alert_after)
    except InvalidInputError as exc:
        problems.append(f"maintenance.lock_alert_after: {exc.message}")
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
