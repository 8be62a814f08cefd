"""Every command and option documents itself, and docs/reference/commands.md covers them.

The whole click command tree (as Typer builds it) is walked, so a new command or option
without help text, or missing from the command reference, fails here. scripts/reference
writes that file (scripts/test checks it byte for byte with --check).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from typer.core import TyperGroup
from typer.testing import CliRunner

from .helpers import command, invoke

COMMANDS_MD = Path(__file__).resolve().parents[2] / "docs" / "reference" / "commands.md"
HELP_OPTIONS = {"--help", "-h"}


def _walk(cmd: object, path: str) -> Iterator[tuple[str, object]]:
    """(command path, command) for the root and every group and command below it."""
    yield path, cmd
    if isinstance(cmd, TyperGroup):
        for name, sub in sorted(cmd.commands.items()):
            yield from _walk(sub, f"{path} {name}")


def _tree() -> list[tuple[str, object]]:
    return list(_walk(command(), "borghive"))


def _long_options(cmd: object) -> list[str]:
    """The ``--long`` spellings of a command's options, help excluded."""
    names: list[str] = []
    for param in getattr(cmd, "params", []):
        if getattr(param, "param_type_name", "") != "option":
            continue
        for opt in (*param.opts, *param.secondary_opts):
            if opt.startswith("--") and opt not in HELP_OPTIONS:
                names.append(opt)
    return names


def test_the_tree_has_every_expected_command() -> None:
    paths = {path for path, _ in _tree()}
    expected = {
        f"borghive {group} {name}"
        for group, names in {
            "user": ("add", "list", "show", "set", "remove"),
            "key": ("add", "list", "show", "remove"),
            "repo": ("create", "list", "show", "set", "grant", "revoke", "delete"),
            "config": ("check",),
        }.items()
        for name in names
    } | {"borghive migrate"}
    assert expected <= paths


def test_every_command_and_parameter_has_help() -> None:
    missing: list[str] = []
    for path, cmd in _tree():
        if not (getattr(cmd, "help", None) or getattr(cmd, "short_help", None)):
            missing.append(f"{path}: command has no help")
        for param in getattr(cmd, "params", []):
            if set(param.opts) & HELP_OPTIONS:
                continue
            if not (getattr(param, "help", None) or "").strip():
                missing.append(
                    f"{path}: {param.param_type_name} {'/'.join(param.opts)} has no help"
                )
    assert missing == []


def test_help_works_for_every_command() -> None:
    runner = CliRunner()
    for path, cmd in _tree():
        result = invoke(runner, [*path.split()[1:], "--help"])
        assert result.exit_code == 0, (path, result.stderr)
        assert "Usage: borghive" in result.stdout, path
        assert " ".join(getattr(cmd, "help", "").split()[:3]) in " ".join(result.stdout.split())


def test_command_reference_documents_every_command_and_long_option() -> None:
    assert COMMANDS_MD.is_file(), f"{COMMANDS_MD} is missing: run scripts/reference"
    text = COMMANDS_MD.read_text(encoding="utf-8")
    missing: list[str] = []
    for path, cmd in _tree():
        if path not in text:
            missing.append(path)
        missing.extend(f"{path} {option}" for option in _long_options(cmd) if option not in text)
    assert missing == [], (
        "docs/reference/commands.md lacks: "
        + ", ".join(missing)
        + " (run .venv/bin/python scripts/reference)"
    )
