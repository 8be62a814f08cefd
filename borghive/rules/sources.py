"""Source restrictions for keys: the ``from="…"`` option of an authorized_keys line."""

from __future__ import annotations

from borghive.errors import InvalidInputError

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
            canonical.append(str(ipaddress.ip_network(part, strict=False)))
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
