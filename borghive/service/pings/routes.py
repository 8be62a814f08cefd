"""The ping routes of the Healthchecks API, as pure functions of the request line.

``/ping/<token>`` (success), ``/ping/<token>/start``, ``/ping/<token>/fail``,
``/ping/<token>/log`` and ``/ping/<token>/<exit status 0-255>`` (0 success, else fail), by
GET, HEAD or POST, with an optional ``rid`` query parameter: the run id, a UUID as in
Healthchecks. Anything else is refused with the status Healthchecks answers and nothing is
written.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qsl

METHODS = frozenset({"GET", "HEAD", "POST"})
KINDS = ("start", "success", "fail", "log")

_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")
_STATUS = re.compile(r"[0-9]{1,3}")
TARGET_LIMIT = 2048  # bytes of a request target looked at; longer ones are refused


@dataclass(frozen=True)
class Ping:
    """A well-formed ping: whose token, which kind, the exit status it gave (None for
    start and log, 0 for a plain success) and its run id (a lower-case UUID, or None)."""

    token: str
    kind: str
    exit_status: int | None
    run_id: str | None


class Refusal(Exception):
    """A request that is not a ping: the HTTP status to answer and why (no token in it)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def parse_ping(method: str, target: str) -> Ping:
    """The ping of a request's method and target (path and query, as sent). Raises
    :class:`Refusal`: 405 for another method, 404 for a path that is not a ping route
    (a suffix that is not a kind or a number among them), 400 for an exit status past 255
    or a run id that is not a UUID, 414 for a target past TARGET_LIMIT."""
    if len(target) > TARGET_LIMIT:
        raise Refusal(414, "request target too long")
    if method not in METHODS:
        raise Refusal(405, "method not allowed")
    path, _, query = target.partition("?")
    parts = path.split("/")
    if len(parts) not in (3, 4) or parts[0] != "" or parts[1] != "ping":
        raise Refusal(404, "not a ping route")
    token = parts[2]
    if not _TOKEN.fullmatch(token):
        raise Refusal(404, "not a ping token")
    kind: str = "success"
    exit_status: int | None = 0
    if len(parts) == 4:
        kind, exit_status = _suffix(parts[3])
    return Ping(token, kind, exit_status, run_id(query))


def _suffix(suffix: str) -> tuple[str, int | None]:
    if suffix in ("start", "fail", "log"):
        return suffix, None
    if _STATUS.fullmatch(suffix):
        status = int(suffix)
        if status > 255:
            raise Refusal(400, "exit status past 255")
        return ("success" if status == 0 else "fail"), status
    raise Refusal(404, "not a ping route")


def run_id(query: str) -> str | None:
    """The ``rid`` of a query string, a UUID in lower case; None when there is none or it
    is empty. Raises :class:`Refusal` (400) when it is not a UUID or is given twice."""
    try:
        values = [v for k, v in parse_qsl(query, keep_blank_values=True) if k == "rid"]
    except ValueError:
        raise Refusal(400, "malformed query") from None
    if not values or values == [""]:
        return None
    if len(values) > 1:
        raise Refusal(400, "rid given more than once")
    value = values[0]
    if len(value) > 36 or not re.fullmatch(r"[0-9A-Fa-f-]{32,36}", value):
        raise Refusal(400, "rid is not a UUID")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise Refusal(400, "rid is not a UUID") from None
