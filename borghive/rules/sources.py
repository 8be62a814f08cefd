"""Source restrictions for keys: the ``from="…"`` option of an authorized_keys line."""

from __future__ import annotations

from borghive.errors import InvalidInputError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ipaddress import IPv4Network, IPv6Network

MAX_SOURCES = 64
# What a canonical list may hold; borghive.login.lines refuses a stored list with anything
# else (it keeps its own copy to stay cheap to import; a test asserts the two agree).
SOURCE_CHARACTERS = frozenset("0123456789abcdef.:/,")


def check_sources(text: str) -> str:
    """A canonical ``from=`` list: comma-separated IPv4/IPv6 addresses or CIDR networks.

    Host names and patterns are refused on purpose: they depend on DNS at login time. So
    are IPv6 zone ids (``fe80::1%eth0``): Python reads them, but the login path refuses a
    stored list holding one, which would lock every key of the user out.
    Raises InvalidInputError naming the first bad entry.
    """
    import ipaddress  # only needed when a restriction is set; keeps the login path lean

    parts = [part.strip() for part in text.split(",")]
    if not parts or not 0 < len(parts) <= MAX_SOURCES or any(not part for part in parts):
        raise InvalidInputError(
            f"invalid source restriction {text[:60]!r}: expected 1 to {MAX_SOURCES} "
            "comma-separated addresses or networks, e.g. 192.0.2.0/24,2001:db8::/32"
        )
    canonical = []
    for part in parts:
        if "%" in part:
            raise InvalidInputError(
                f"invalid source restriction: {part[:50]!r} has a zone id (after '%'); "
                "give the address or network without it"
            )
        try:
            canonical.append(network_text(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise InvalidInputError(
                f"invalid source restriction: {part[:50]!r} is not an IP address or network"
            ) from None
    result = ",".join(canonical)
    if not set(result) <= SOURCE_CHARACTERS:  # whatever else ipaddress may come to accept
        raise InvalidInputError(
            f"invalid source restriction: {text[:60]!r} is not plain addresses or networks"
        )
    return result


def network_text(network: IPv4Network | IPv6Network) -> str:
    """A network as the store keeps it: ``str()``, except that an IPv4-mapped IPv6 address
    is written in hexadecimal groups (``::ffff:c000:201/128``), as Python up to 3.12 writes
    it; 3.13 writes ``::ffff:192.0.2.1``, and a stored list must not depend on the Python
    that wrote it. Both forms mean the same to sshd."""
    if network.version == 6 and getattr(network.network_address, "ipv4_mapped", None):
        return f"{_hex_groups(network.network_address.packed)}/{network.prefixlen}"
    return str(network)


def _hex_groups(packed: bytes) -> str:
    """An IPv6 address in RFC 5952 text: lower-case hexadecimal groups, the longest run of
    two or more zero groups (the first of equal runs) written as ``::``."""
    groups = [int.from_bytes(packed[i : i + 2], "big") for i in range(0, 16, 2)]
    best_start, best_length, start = -1, 0, -1
    for index, group in enumerate([*groups, 1]):
        if group == 0 and start < 0:
            start = index
        elif group != 0 and start >= 0:
            if index - start > best_length:
                best_start, best_length = start, index - start
            start = -1
    words = [f"{group:x}" for group in groups]
    if best_length < 2:
        return ":".join(words)
    head, tail = words[:best_start], words[best_start + best_length :]
    return ":".join(head) + "::" + ":".join(tail)
