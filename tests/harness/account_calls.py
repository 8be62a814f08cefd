"""Run inside the test's mount namespace: call LocalAccounts and print the results as JSON.

Usage: ``python account_calls.py MARKER REQUEST``. ``REQUEST`` is JSON:
``{"group": ..., "gid": ..., "calls": [[method, argument?], ...]}``; an argument that is
an object is an AccountSpec. Every call is made even after one fails; stdout is one JSON
list with ``{"value": ...}`` or ``{"error": class name, "message": ..., "hint": ...}``
per call. Refuses (exit 3) unless ``/etc/MARKER`` exists, i.e. unless /etc is the test's
copy: a mount that failed silently must never let the test change the host.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from borghive.errors import BorghiveError
from borghive.local.accounts import LocalAccounts
from borghive.rules.accounts import AccountSpec


def plain(value: Any) -> Any:
    if isinstance(value, AccountSpec):
        return {
            key: str(item) if isinstance(item, Path) else item
            for key, item in dataclasses.asdict(value).items()
        }
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return value


def main(marker: str, request_text: str) -> int:
    if not (Path("/etc") / marker).is_file():
        print("refusing: /etc is not the test's copy", file=sys.stderr)
        return 3
    request = json.loads(request_text)
    backend = LocalAccounts(request["group"], request["gid"])
    results: list[dict[str, Any]] = []
    for method, *arguments in request["calls"]:
        if arguments and isinstance(arguments[0], dict):
            fields = dict(arguments[0])
            fields["home"] = Path(fields["home"])
            arguments = [AccountSpec(**fields)]
        try:
            value = getattr(backend, method)(*arguments)
        except BorghiveError as exc:
            results.append({"error": type(exc).__name__, "message": exc.message, "hint": exc.hint})
        else:
            results.append({"value": plain(value)})
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
