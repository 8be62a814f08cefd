"""The CLI in-process: ``borghive ARGS`` through Typer's ``CliRunner``, stdout and stderr
kept apart (this Typer version captures them separately), never raising."""

from __future__ import annotations

import json
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
from borghive.store.models import database


@cache
def command() -> TyperGroup:
    """The click command tree of ``borghive``, built once: Typer's ``CliRunner.invoke``
    rebuilds it from the annotations on every call, which costs more than most commands."""
    built = typer.main.get_command(app)
    assert isinstance(built, TyperGroup)
    return built


def invoke(runner: CliRunner, argv: list[str], input: str | None = None) -> Result:
    """What ``CliRunner.invoke`` does, on the cached command tree, as program ``borghive``.
    The store a test had bound to the models (if any) is bound again afterwards: the
    command binds and closes its own."""
    exit_code = 0
    exception: BaseException | None = None
    exc_info: Any = None
    bound = database.obj
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
            if bound is not None:
                database.initialize(bound)
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


def escaped(result: Result) -> str:
    """The traceback of an exception that escaped the command, or an empty string."""
    if result.exc_info is None:
        return ""
    return "".join(traceback.format_exception(*result.exc_info))


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


def borghive(config_file: Path, *args: str) -> Result:
    """``borghive --config FILE ARGS...`` in-process with a fresh runner."""
    return invoke(CliRunner(), ["--config", str(config_file), *args])
