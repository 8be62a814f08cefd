"""A doctor finding and how findings combine: the worst status wins, and a check that
cannot look at something (run as non-root) is a FAIL naming what, never a traceback."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Status = Literal["ok", "warn", "FAIL"]


@dataclass(frozen=True)
class Check:
    """One finding: ``status`` is ok, warn or FAIL; ``detail`` says what and how to fix."""

    name: str
    status: Status
    detail: str


def worst(problems: list[tuple[Status, str]], ok_detail: str, name: str) -> Check:
    """One check from (status, text) problems: the worst status, the texts joined."""
    if not problems:
        return Check(name, "ok", ok_detail)
    status: Status = "FAIL" if any(s == "FAIL" for s, _ in problems) else "warn"
    return Check(name, status, "; ".join(text for _, text in problems))


def guarded(name: str, check: Callable[[], Check]) -> Check:
    """``check()``, or a FAIL naming the path it could not look at (e.g. run as non-root)."""
    try:
        return check()
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        return Check(
            name, "FAIL", f"cannot check{where}: {exc.strerror} (run borghive doctor as root)"
        )
