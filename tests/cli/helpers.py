"""Helpers for CLI tests: a runner bound to the test configuration file, sample SSH keys,
refusal checks and the names every command must refuse."""

from __future__ import annotations

import base64
import json
import os
import socket
import sys
import traceback
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import typer.main
from typer.core import TyperGroup
from typer.testing import CliRunner, Result

from borghive.cli.app import app
from borghive.config import Config
from borghive.service.repositories import view as repo_view
from borghive.service.users import keys
from borghive.service.users import people as users
from borghive.store import open_store


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound once, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@cache
def command() -> TyperGroup:
    """The click command tree of ``borghive``, built once: Typer's ``CliRunner.invoke``
    rebuilds it from the annotations on every call, which costs more than most commands."""
    built = typer.main.get_command(app)
    assert isinstance(built, TyperGroup)
    return built


def invoke(runner: CliRunner, argv: list[str], input: str | None = None) -> Result:
    """What ``CliRunner.invoke`` does, on the cached command tree, as program ``borghive``."""
    exit_code = 0
    exception: BaseException | None = None
    exc_info: Any = None
    with runner.isolation(input=input) as (stdout, stderr, output):
        try:
            command().main(args=argv, prog_name="borghive")
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            exit_code = code
            exception = exc if code != 0 else None
        except Exception as exc:  # noqa: BLE001 - an escaped exception is a result to assert on
            exit_code = 1
            exception = exc
            exc_info = sys.exc_info()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        return Result(
            runner=runner,
            stdout_bytes=stdout.getvalue(),
            stderr_bytes=stderr.getvalue(),
            output_bytes=output.getvalue(),
            return_value=None,
            exit_code=exit_code,
            exception=exception,
            exc_info=exc_info,
        )


def _wire(data: bytes) -> bytes:
    """One SSH wire-format string: 4-byte big-endian length, then the bytes."""
    return len(data).to_bytes(4, "big") + data


def _mpint(value: int) -> bytes:
    raw = value.to_bytes(value.bit_length() // 8 + 1, "big")  # leading 0 keeps it positive
    return _wire(raw)


def ed25519_line(comment: str = "") -> str:
    """A well-formed ``ssh-ed25519`` public key line with a random 32-byte key."""
    blob = _wire(b"ssh-ed25519") + _wire(os.urandom(32))
    line = f"ssh-ed25519 {base64.b64encode(blob).decode()}"
    return f"{line} {comment}\n" if comment else line + "\n"


def rsa_line(bits: int, comment: str = "") -> str:
    """A structurally valid ``ssh-rsa`` public key line whose modulus has ``bits`` bits."""
    modulus = (
        (1 << (bits - 1)) | int.from_bytes(os.urandom(bits // 8), "big") % (1 << (bits - 1)) | 1
    )
    blob = _wire(b"ssh-rsa") + _mpint(65537) + _mpint(modulus)
    return f"ssh-rsa {base64.b64encode(blob).decode()} {comment}".rstrip() + "\n"


@dataclass
class Cli:
    """Runs borghive with ``--config`` pointing at the test configuration."""

    config_file: Path
    config: Config
    runner: CliRunner

    def run(self, *args: str, input: str | None = None, config: bool = True) -> Result:
        """Invoke ``borghive [--config FILE] ARGS`` in-process; never raises."""
        argv = ["--config", str(self.config_file), *args] if config else list(args)
        return invoke(self.runner, argv, input=input)

    def ok(self, *args: str, input: str | None = None) -> Result:
        """Run and require exit 0 with nothing on stderr."""
        result = self.run(*args, input=input)
        assert result.exit_code == 0, (
            result.exit_code,
            result.stdout,
            result.stderr,
            escaped(result),
        )
        assert result.stderr == ""
        return result

    def json(self, *args: str, input: str | None = None) -> Any:
        """Run with ``--json`` (exit 0 required) and return the parsed stdout."""
        return json.loads(self.ok(*args, "--json", input=input).stdout)

    def snapshot(self) -> tuple[Any, ...]:
        """Every user, key and repository as the services see them (one store connection):
        compared before and after a refusal to prove it changed nothing."""
        with open_store(self.config.store, readonly=True):
            return (users.list_users(), keys.list_keys(), repo_view.list_repositories(self.config))

    @property
    def root(self) -> Path:
        return self.config.repos.root


def escaped(result: Result) -> str:
    """The traceback of an exception that escaped the command, or an empty string."""
    if result.exc_info is None:
        return ""
    return "".join(traceback.format_exception(*result.exc_info))


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
