"""One HTTP(S) POST for the webhook and Pushover channels (``urllib``): no redirects
followed, a bounded time, the response read but not kept, failures as DeliveryError. A
user name and password in the URL go as HTTP Basic authentication, never into a message."""

from __future__ import annotations

import base64
import http.client
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from borghive import __version__
from borghive.delivery.common import reason, text
from borghive.rules.channels import DeliveryError
from borghive.rules.urls import HTTP_SCHEMES, UrlError, parse_url


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect would turn the POST into a GET without body: report it instead."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def post(url: str, body: bytes, headers: dict[str, str], what: str, timeout: float) -> None:
    """POST ``body`` to ``url``; raise DeliveryError naming ``what`` and the host (never
    the path or credentials of the URL)."""
    try:  # checked on input too, but a channel stored before that may not be: never file://
        parsed = parse_url(url, HTTP_SCHEMES)
    except UrlError as exc:
        raise DeliveryError(f"{what}: invalid URL: {exc.reason}") from None
    headers = {**headers, "User-Agent": f"borghive/{__version__}"}
    if parsed.has_credentials:
        user = urllib.parse.unquote(parsed.username or "")
        password = urllib.parse.unquote(parsed.password or "")
        pair = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {pair}"
    request = urllib.request.Request(  # noqa: S310 (the scheme is http or https, checked above)
        parsed.without_credentials(), data=body, headers=headers, method="POST"
    )
    host = parsed.host_port
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read(65536)
    except urllib.error.HTTPError as exc:
        detail = text(exc.read(300)) if exc.fp is not None else ""
        raise DeliveryError(
            f"{what} {host}: HTTP {exc.code} {exc.reason}" + (f": {detail}" if detail else "")
        ) from None
    except urllib.error.URLError as exc:
        raise DeliveryError(f"{what} {host}: {reason(exc.reason)}") from None
    except (OSError, ValueError, http.client.HTTPException) as exc:  # timeouts, bad answers
        raise DeliveryError(f"{what} {host}: {reason(exc)}") from None
