"""Options of ``repo set`` for maintenance: schedules and the append-only rule."""

from __future__ import annotations

from typing import Annotated

import typer

from borghive.errors import InvalidInputError
from borghive.rules.schedule import parse_every

_EVERY = "a duration (7d, 12h), never, or default (the [maintenance] setting)"
CompactEveryOption = Annotated[
    str | None,
    typer.Option("--compact-every", help=f"Compact this repository this often: {_EVERY}."),
]
CheckEveryOption = Annotated[
    str | None,
    typer.Option("--check-every", help=f"Check this repository's segments this often: {_EVERY}."),
]
CompactAppendOnlyOption = Annotated[
    str | None,
    typer.Option(
        "--compact-append-only",
        help="yes: let maintenance compact this repository although a key is append-only "
        "(deletes what a rollback needs); no: never (the default).",
    ),
]


def every_option(value: str | None) -> tuple[int | None, bool]:
    """(seconds or 0 for never, back to the default) from an ``--X-every`` value."""
    if value is None:
        return None, False
    if value.strip().lower() == "default":
        return None, True
    return parse_every(value), False


def yes_no(value: str | None, flag: str) -> bool | None:
    """``yes``/``no`` → True/False; None stays None; raises InvalidInputError."""
    if value is None:
        return None
    answer = value.strip().lower()
    if answer in ("yes", "no"):
        return answer == "yes"
    raise InvalidInputError(f"invalid {flag} {value[:30]!r}: expected yes or no")
