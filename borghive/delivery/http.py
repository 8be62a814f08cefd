"""One HTTP(S) POST for the webhook and Pushover channels (``urllib``): no redirects
followed, a bounded time, the response read but not kept, failures as DeliveryError."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from borghive import __version__
from borghive.delivery.common import reason, text
from borghive.rules.channels import DeliveryError


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect would turn the POST into a GET without body: report it instead."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def post(url: str, body: bytes, headers: dict[str, str], what: str, timeout: float) -> None:
    """POST ``body`` to ``url``; raise DeliveryError naming ``what`` and the host (never
    the path or credentials of the URL)."""
    if not url.startswith(("http://", "https://")):  # checked on input; never file:// etc.
        raise DeliveryError(f"{what}: not an http(s) URL")
    headers = {**headers, "User-Agent": f"borghive/{__version__}"}
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    host = urllib.parse.urlsplit(url).netloc.rpartition("@")[2]
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
    except (OSError, ValueError) as exc:  # timeouts while reading, bad responses
        raise DeliveryError(f"{what} {host}: {reason(exc)}") from None
