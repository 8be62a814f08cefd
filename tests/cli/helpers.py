"""Helpers of the CLI tests: refusal checks and the names every command must refuse. The
runner itself is the harness's (``tests/harness/cli.py``)."""

from __future__ import annotations

from typer.testing import Result

from tests.harness.cli import command, escaped, invoke

__all__ = ["BAD_NAMES", "assert_refused", "command", "invoke"]


def assert_refused(result: Result, *fragments: str, exit_code: int = 1) -> str:
    """The command failed cleanly: ``exit_code``, nothing on stdout, no traceback, and stderr
    is exactly one ``borghive: error: …`` line (plus an optional ``borghive: hint: …`` line)
    containing every fragment. Returns the error line."""
    assert result.exit_code == exit_code, (result.exit_code, result.stdout, result.stderr)
    assert isinstance(result.exception, SystemExit), escaped(result)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    # Untrusted input is echoed escaped: no terminal control sequences reach the terminal.
    assert not [c for c in result.stderr if (ord(c) < 32 and c != "\n") or ord(c) == 127]
    lines = result.stderr.splitlines()
    assert 1 <= len(lines) <= 2, result.stderr
    assert lines[0].startswith("borghive: error: "), lines[0]
    if len(lines) == 2:
        assert lines[1].startswith("borghive: hint: "), lines[1]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


# Names every command must refuse, with the reason the error message gives.
BAD_NAMES: list[tuple[str, str]] = [
    ("a/b", "'/'"),
    ("a..b", "'..'"),
    ("..", "'..'"),
    ("a b", "whitespace"),
    ("a\tb", "control characters"),
    ("a\nb", "control characters"),
    ("a\x1b[2Jb", "control characters"),
    ("-alice", "starts with '-'"),
    ("a" * 65, "longer than 64"),
    ("\u00e1lice", "non-ASCII"),
    ("", "empty"),
]
