"""What ``borg check --repository-only`` says is damaged: pure parsing of its messages.

borg 1.2 and 1.4 (``src/borg/repository.py``, ``check``) log one line per problem: a
damaged entry as ``Data integrity error: <what> [segment N, offset M]``, an unreadable or
truncated segment file as ``... segment N ...`` (e.g. ``Error reading segment N``,
``Segment N is not a valid segment file``), index problems as ``Index object count
mismatch.`` and friends, and finally ``Finished full repository check, errors found.``
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_AT_SEGMENT = re.compile(r"\[segment (\d{1,12}), offset (\d{1,15})\]")
_SEGMENT = re.compile(r"\bsegment (?:file )?(\d{1,12})\b", re.IGNORECASE)
_PROBLEM = re.compile(
    r"error|mismatch|corrupt|damaged|invalid|not a valid|not found|missing|truncat", re.I
)
_NOISE = ("Starting repository", "finished segment check", "Starting repository index check")


@dataclass(frozen=True)
class CheckFindings:
    """``segments``: the damaged segment numbers, ascending; ``problems``: borg's problem
    lines (without the closing summary), in order, each at most 200 characters."""

    segments: tuple[int, ...]
    problems: tuple[str, ...]

    def summary(self, limit: int = 3) -> str:
        """One line: the damaged segments and the first problems."""
        parts: list[str] = []
        if self.segments:
            shown = ", ".join(str(n) for n in self.segments[:20])
            more = f" and {len(self.segments) - 20} more" if len(self.segments) > 20 else ""
            parts.append(f"damaged segments {shown}{more}")
        parts.extend(self.problems[:limit])
        return "; ".join(parts) if parts else "errors found (borg named none)"


def parse_check_output(text: str) -> CheckFindings:
    """The damaged segments and problem lines in borg's check output (stderr and stdout
    together); never raises."""
    segments: set[int] = set()
    problems: list[str] = []
    for raw in text.splitlines():
        line = "".join(c if c.isprintable() else "?" for c in raw.strip())
        if not line or line.startswith(_NOISE) or line.startswith("Finished "):
            continue
        located = _AT_SEGMENT.findall(line)
        if located:
            segments.update(int(number) for number, _ in located)
        elif _PROBLEM.search(line):
            segments.update(int(number) for number in _SEGMENT.findall(line))
        else:
            continue
        if line not in problems:
            problems.append(line[:200])
    return CheckFindings(tuple(sorted(segments)), tuple(problems))
