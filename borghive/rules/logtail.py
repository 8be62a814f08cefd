"""The end of a client's log as alerts quote it: the last lines, bounded, cleaned of what a
terminal or a mail reader would interpret (escape sequences, control and format
characters). Standard library only; no I/O.

A client's log is whatever its backup job printed: progress bars redrawn with carriage
returns, colours, and sometimes binary garbage. What matters in it is the tail (borg prints
the error last), so the excerpt keeps the last lines, at most :data:`LINES` of them and
:data:`LIMIT` bytes of UTF-8.
"""

from __future__ import annotations

import re
import unicodedata

LINES = 20
LIMIT = 2048  # bytes of UTF-8
# Only so much of a long log is looked at: the excerpt needs the last 2 kB, and cleaning
# a megabyte at every alert check would be wasted (500 failing clients' 100 kB logs took
# 10 s to clean whole, 0.3 s like this: benchmarks/bench_alerts.py --reports).
_WINDOW = 4 * LIMIT

# ESC sequences: CSI (colours, cursor moves), OSC (titles, hyperlinks; ended by BEL or
# ST), and any other two-character escape.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?|\x9b[0-?]*[ -/]*[@-~]?"
)
_REMOVED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
_ASCII_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _clean_line(line: str) -> str:
    # A progress bar redraws its line after a carriage return: keep what a terminal shows
    # last (the final segment that is not empty).
    if "\r" in line:
        segments = [s for s in line.split("\r") if s.strip()]
        line = segments[-1] if segments else ""
    line = _ASCII_CONTROLS.sub("", line.replace("\t", "    "))
    if not line.isascii():  # most lines are: the per-character look only where needed
        line = _NON_ASCII.sub(_shown, line)
    return line.rstrip()


def _shown(match: re.Match[str]) -> str:
    character = match.group()
    return "" if unicodedata.category(character) in _REMOVED_CATEGORIES else character


def clean_lines(body: str) -> list[str]:
    """``body`` as lines for a terminal or a mail: escape sequences, control and format
    characters and unpaired surrogates removed, each line as a progress bar leaves it,
    trailing blanks and empty lines at the end dropped. Never raises."""
    text = _ESCAPES.sub("", body)
    text = text.replace("\r\n", "\n").replace("\u2028", "\n").replace("\u2029", "\n")
    cleaned = [_clean_line(line) for line in re.split(r"[\n\x0b\x0c\x1c-\x1e\x85]", text)]
    while cleaned and not cleaned[-1]:
        cleaned.pop()
    return cleaned


def one_line(text: str, limit: int = 64) -> str:
    """``text`` (a run id, an address a client sent) cleaned as :func:`clean_lines` does,
    on one line, at most ``limit`` characters."""
    return " ".join(line.strip() for line in clean_lines(text) if line.strip())[:limit]


def log_tail(body: str, *, lines: int = LINES, limit: int = LIMIT) -> tuple[str, bool]:
    """The last ``lines`` lines of ``body``, at most ``limit`` bytes as UTF-8, without
    escape sequences, control characters (but the newlines between lines), format
    characters (bidirectional overrides) or unpaired surrogates; empty lines at the end
    dropped. Returns (excerpt, shortened): ``shortened`` is True when anything before the
    excerpt was left out. Never raises."""
    shortened = False
    if len(body) > _WINDOW:
        body = body[-_WINDOW:]
        shortened = True
        # The first line is cut: drop it, unless the window is one line.
        newline = body.find("\n")
        if 0 <= newline < len(body) - 1:
            body = body[newline + 1 :]
    cleaned = clean_lines(body)
    start = max(0, len(cleaned) - lines)
    if start > 0:
        shortened = True
    kept = cleaned[start:]
    while kept and not kept[0]:
        kept.pop(0)
    excerpt = "\n".join(kept)
    encoded = excerpt.encode("utf-8")
    if len(encoded) > limit:
        shortened = True
        tail = encoded[-limit:].decode("utf-8", "ignore")  # a cut character is dropped
        newline = tail.find("\n")
        # Start at a line's beginning when that leaves something to read.
        excerpt = tail[newline + 1 :] if 0 <= newline < len(tail) - 1 else tail
    return excerpt, shortened
