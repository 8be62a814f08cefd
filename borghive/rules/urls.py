"""URLs, parsed completely where they enter (a webhook channel, ``alerts.pushover_url``,
``ldap.url``, a PostgreSQL ``store.url``) and shown without credentials.

A URL is ``SCHEME://[USER[:PASSWORD]@]HOST[:PORT][/PATH][?QUERY][#FRAGMENT]`` in printable
ASCII without spaces: a scheme the caller allows, a host that is a DNS name, an IPv4
address or a bracketed IPv6 address, and a port (when given) of digits from 1 to 65535.
Private and loopback hosts are allowed on purpose: admins run ntfy or gotify next to
borghive. Standard library only; the reasons in :class:`UrlError` never repeat the URL,
since it may hold a password.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection
from dataclasses import dataclass

MAX_LENGTH = 2048
HTTP_SCHEMES = ("http", "https")  # webhooks, alerts.pushover_url
LDAP_SCHEMES = ("ldap", "ldaps")  # ldap.url
POSTGRES_SCHEMES = ("postgresql", "postgres")  # store.url
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_PRINTABLE = re.compile(r"[!-~]*")  # printable ASCII: no space, control or non-ASCII
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
_PORT = re.compile(r"[0-9]{1,5}")
# Whatever precedes the last "@" of the authority, also in text that does not parse.
_USERINFO = re.compile(r"^((?:[A-Za-z][A-Za-z0-9+.-]*://)?)([^/?#]*@)")
# The same inside free text (a library's error message): after "://", up to the last "@".
_EMBEDDED_USERINFO = re.compile(r"(://)[^\s/?#]*@")


class UrlError(ValueError):
    """A URL that is not what its use expects; ``reason`` says why without the URL."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Url:
    """A parsed URL. ``host`` is as written, an IPv6 address without its brackets ("" when
    the use allows no host); ``path`` and ``tail`` (query and fragment, with their ``?``
    or ``#``) are as written; ``username`` and ``password`` are percent-encoded as written."""

    scheme: str
    host: str
    port: int | None
    path: str
    tail: str
    username: str | None
    password: str | None

    @property
    def has_credentials(self) -> bool:
        """Whether the URL carries a user name or password."""
        return self.username is not None

    @property
    def host_port(self) -> str:
        """``HOST[:PORT]`` as it goes into a URL (an IPv6 address in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    def without_credentials(self) -> str:
        """The whole URL without user name and password: what is requested."""
        return f"{self.scheme}://{self.host_port}{self.path}{self.tail}"

    def shown(self) -> str:
        """The whole URL for people: credentials replaced by ``***``."""
        userinfo = "***@" if self.has_credentials else ""
        return f"{self.scheme}://{userinfo}{self.host_port}{self.path}{self.tail}"


def parse_url(
    text: str, schemes: Collection[str], *, host_required: bool = True, max_length: int = MAX_LENGTH
) -> Url:
    """Parse ``text`` as a URL of one of ``schemes`` (lower case); the scheme's case is
    ignored. Raises UrlError saying which part is wrong."""
    if len(text) > max_length:
        raise UrlError(f"longer than {max_length} characters")
    if not _PRINTABLE.fullmatch(text):
        raise UrlError("contains a space, a control character or non-ASCII text")
    match = _SCHEME.match(text)
    expected = " or ".join(f"{s}://" for s in sorted(schemes))
    if match is None or match.group(1).lower() not in schemes:
        raise UrlError(f"expected {expected}")
    scheme = match.group(1).lower()
    rest = text[match.end() :]
    end = len(rest)
    for mark in "/?#":
        found = rest.find(mark)
        if found != -1:
            end = min(end, found)
    authority, after = rest[:end], rest[end:]
    split = min((i for i in (after.find("?"), after.find("#")) if i != -1), default=len(after))
    path, tail = after[:split], after[split:]
    username = password = None
    if "@" in authority:
        userinfo, _, authority = authority.rpartition("@")
        if "@" in userinfo:
            raise UrlError("more than one '@' before the host (write an '@' in a password as %40)")
        username, colon, secret = userinfo.partition(":")
        password = secret if colon else None
    host, port = _host_port(authority)
    if host_required and not host:
        raise UrlError("no host")
    return Url(scheme, host, port, path, tail, username, password)


def _host_port(authority: str) -> tuple[str, int | None]:
    """(host, port) of ``HOST[:PORT]``; raise UrlError."""
    if authority.startswith("["):
        close = authority.find("]")
        if close == -1:
            raise UrlError("an IPv6 address without its closing ']'")
        host, after = authority[1:close], authority[close + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise UrlError("the host in [ ] is not an IPv6 address") from None
        if after and not after.startswith(":"):
            raise UrlError("text after the IPv6 address that is not a port")
        port_text = after[1:] if after else None
    else:
        host, colon, port_text_raw = authority.partition(":")
        port_text = port_text_raw if colon else None
        problem = host_problem(host) if host else None
        if problem:
            raise UrlError(f"the host is {problem}")
    if port_text is None:
        return host, None
    if not _PORT.fullmatch(port_text) or not 1 <= int(port_text) <= 65535:
        raise UrlError("the port is not a number from 1 to 65535")
    if not host:
        raise UrlError("a port without a host")
    return host, int(port_text)


def host_problem(host: str) -> str | None:
    """Say why ``host`` is not a DNS name or an IPv4 address (a bracketed IPv6 address
    such as ``[2001:db8::1]`` is one too), or None. Used for URL hosts and for
    ``repos.host``, which goes into clients' ``ssh://`` URLs and the printed ``borg init``
    line."""
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return "not an IPv6 address in [ ]"
        return None
    if len(host) > 253:
        return "longer than 253 characters"
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    if not all(_LABEL.fullmatch(label) for label in labels):
        return "not a host name (dot-separated letters, digits, - and _; IPv6 in [ ])"
    if all(label.isdigit() for label in labels):
        try:
            ipaddress.IPv4Address(host.rstrip("."))
        except ValueError:
            return "not an IPv4 address"
    return None


def redact(text: str) -> str:
    """``text`` with anything before the authority's last ``@`` replaced by ``***``: safe to
    show for any text meant as a URL, parsable or not."""
    return _USERINFO.sub(r"\1***@", text, count=1)


def scrub(text: str) -> str:
    """Free text (an error message, a log line) with the user name and password of every
    ``SCHEME://USER:PASSWORD@`` in it replaced by ``***``."""
    return _EMBEDDED_USERINFO.sub(r"\1***@", text)
