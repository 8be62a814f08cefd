"""Usage errors: how they are printed (one line and a hint, exit 2), the bounds of numeric
options, and options that contradict each other."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

import typer

# Typer vendors click; only BadParameter is public, and the printing needs the others.
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

from borghive.rules.bounds import Bound

__all__ = ["ClickException", "NoArgsIsHelpError", "exclusive", "report_usage", "within"]

Number = TypeVar("Number", int, float)
_SHOWN = 300  # characters of a message: an argument may be megabytes long


def _printable(text: str) -> str:
    """``text`` on one line with control characters escaped: it echoes the user's input."""
    flat = " ".join(text.split())
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in flat)


def report_usage(error: ClickException) -> int:
    """Print a click error as ``borghive: error: …`` and ``borghive: hint: see '… --help'``
    on stderr; return its exit code (2 for a usage error)."""
    message = _printable(error.format_message()).rstrip(".")
    if len(message) > _SHOWN:
        message = message[: _SHOWN - 3] + "..."
    if message[:1].isupper() and message[1:2].islower():
        message = message[0].lower() + message[1:]  # as the house's messages read
    sys.stderr.write(f"borghive: error: {message}\n")
    context = getattr(error, "ctx", None)
    command = context.command_path if context is not None else "borghive"
    sys.stderr.write(f"borghive: hint: see '{command} --help'\n")
    return error.exit_code


def within(bound: Bound) -> Callable[[Number | None], Number | None]:
    """An option callback refusing a number outside ``bound`` (NaN and infinities too) as
    a usage error naming the option."""

    def check(value: Number | None) -> Number | None:
        if value is not None and not bound.holds(value):
            raise typer.BadParameter(f"{value} is out of range: must be {bound.words}")
        return value

    return check


def exclusive(ctx: typer.Context, *options: tuple[str, bool]) -> None:
    """Raise a usage error when more than one of ``options`` (spelling, given) was given:
    they contradict each other, and which one wins would be a guess."""
    given = [name for name, present in options if present]
    if len(given) > 1:
        raise UsageError(f"{' and '.join(given)} contradict each other; give one of them", ctx=ctx)
