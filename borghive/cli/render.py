"""Output for people (rich tables) and for scripts (``--json``).

rich is imported only when a table is printed: it costs every command ~25 ms at start-up
otherwise, and lines and name/value pairs need none of it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


@cache
def console() -> Console:
    """The rich console for stdout. Piped output is not cut to 80 columns: a pipe has no
    width, and truncated cells are useless."""
    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else 200)


@cache
def _field_names(kind: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(kind))


def _plain(value: Any) -> Any:
    """What the json encoder cannot write itself: dataclasses as objects, datetimes in ISO
    8601, paths as text. Called by the (C) encoder only for such values, so ten thousand
    records cost no Python walk over every field."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if hasattr(value, "__dict__"):  # fields in order, no copy needed for reading
            return value.__dict__
        return {name: getattr(value, name) for name in _field_names(type(value))}
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def emit_json(value: Any) -> None:
    """Print ``value`` as JSON on stdout: indented on a terminal, one line for a pipe.
    Indenting selects the json module's pure-Python encoder, which takes half a second
    for ten thousand repositories; ``jq .`` indents piped output when a person wants it."""
    indent = 2 if sys.stdout.isatty() else None
    sys.stdout.write(json.dumps(value, indent=indent, default=_plain) + "\n")


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``1 repository``, ``2 repositories``: a count with its noun in the right number."""
    return f"{count} {noun}" if count == 1 else f"{count} {plural or noun + 's'}"


def when(value: dt.datetime | None) -> str:
    """A timestamp for people: UTC, to the minute; ``never`` for None."""
    return "never" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Print rows as a table; plain tab-separated lines when stdout is not a terminal and
    the table is large, since measuring thousands of cells for a pipe is wasted work."""
    materialised = [[("-" if cell is None else str(cell)) for cell in row] for row in rows]
    if len(materialised) > 200:
        _plain_table(title, columns, materialised)
        return
    from rich.markup import escape
    from rich.table import Table

    grid = Table(title=title, title_justify="left")
    for column in columns:
        grid.add_column(column)
    for row in materialised:
        grid.add_row(*(escape(cell) for cell in row))
    console().print(grid)


def _plain_table(title: str | None, columns: Sequence[str], rows: list[list[str]]) -> None:
    """Large tables without rich, which measures every cell (9 s for 10,000 rows on a
    terminal): tab-separated for a pipe, aligned columns on a terminal."""
    if not sys.stdout.isatty():
        sys.stdout.write("\t".join(columns) + "\n")
        sys.stdout.writelines("\t".join(row) + "\n" for row in rows)
        return
    widths = [max(len(column), *(len(row[i]) for row in rows)) for i, column in enumerate(columns)]
    lines = [title or ""] if title else []
    lines.append("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    lines.append("  ".join("-" * w for w in widths))
    lines.extend(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
    sys.stdout.write("\n".join(lines) + "\n")


def fields(pairs: Sequence[tuple[str, Any]]) -> None:
    """Print ``name  value`` pairs, names aligned in a column."""
    width = max((len(name) for name, _ in pairs), default=0)
    for name, value in pairs:
        shown = "-" if value is None else str(value)
        sys.stdout.write(f"{name:<{width}}  {shown}\n")


def say(message: str) -> None:
    """One line of progress or result for people."""
    sys.stdout.write(message + "\n")
