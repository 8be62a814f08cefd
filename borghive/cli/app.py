"""The root ``borghive`` app: global options, configuration loading, errors to exit codes."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from borghive import __version__
from borghive.cli.usage import ClickException, NoArgsIsHelpError, report_usage
from borghive.config import Config
from borghive.config_load import load_config
from borghive.errors import BorghiveError
from borghive.rules.accounts import AccountsBackend


@dataclass
class AppState:
    """What the root callback hands to every command."""

    config_path: Path | None
    debug: bool
    _config: Config | None = None
    # A command opened the store for writing and succeeded: logins may have changed.
    wrote_store: bool = False

    @property
    def config(self) -> Config:
        """The configuration, loaded once on first use."""
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config


def report(error: BorghiveError) -> None:
    """Print a domain error as ``borghive: error: …`` (and its hint) on stderr."""
    sys.stderr.write(f"borghive: error: {error.message}\n")
    if error.hint:
        sys.stderr.write(f"borghive: hint: {error.hint}\n")


class BorghiveGroup(TyperGroup):
    """Turns domain errors and usage errors raised anywhere below into one stderr line (and
    a hint) and an exit code, instead of click's framed box."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        # The root's own options are parsed here, before invoke().
        try:
            return super().make_context(info_name, args, parent, **extra)
        except NoArgsIsHelpError:
            raise  # a bare group prints its help: click's own way is the useful one
        except ClickException as error:
            raise typer.Exit(report_usage(error)) from None

    def invoke(self, ctx: Any) -> Any:
        try:
            result = super().invoke(ctx)
            if isinstance(ctx.obj, AppState) and ctx.obj.wrote_store:
                refresh_login_snapshot(ctx.obj.config)
            return result
        except NoArgsIsHelpError:
            raise
        except ClickException as error:
            raise typer.Exit(report_usage(error)) from None
        except BorghiveError as error:
            debug = isinstance(ctx.obj, AppState) and ctx.obj.debug
            if debug:
                traceback.print_exc()
            report(error)
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            sys.stderr.write("borghive: interrupted\n")
            raise typer.Exit(130) from None


app = typer.Typer(
    cls=BorghiveGroup,
    help="Run a BorgBackup repository server: users, SSH keys, repositories and their "
    "system accounts.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"borghive {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Configuration file (default: $BORGHIVE_CONFIG, else "
            "/etc/borghive/borghive.toml if it exists, else built-in defaults).",
        ),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show a traceback when a command fails.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Run a BorgBackup repository server."""
    ctx.obj = AppState(config_path=config, debug=debug)


def state(ctx: typer.Context) -> AppState:
    """The AppState set by the root callback."""
    obj = ctx.find_root().obj
    if not isinstance(obj, AppState):  # pragma: no cover - the root callback always runs
        raise RuntimeError("borghive: no application state")
    return obj


@contextmanager
def store_session(ctx: typer.Context, *, readonly: bool = False) -> Iterator[Config]:
    """Load the configuration, open the store (schema checked) and yield the config."""
    from borghive.store import open_store

    app_state = state(ctx)
    config = app_state.config
    with open_store(config.store, readonly=readonly):
        yield config
    if not readonly:
        app_state.wrote_store = True


def refresh_login_snapshot(config: Config) -> None:
    """After a command that may have changed logins: rebuild this host's login snapshot now
    (PostgreSQL only, and only where this process may write it), so a revocation takes
    effect here at once; other hosts hear of it through the store's notifications. Best
    effort: a failure is one warning line and never changes the command's exit status."""
    import os
    import sqlite3

    from borghive.service.hosts.snapshot import kept_snapshot_path, refresh_snapshot
    from borghive.store import open_store

    path = kept_snapshot_path(config)
    if path is None:
        return
    # a user who may not write it (an unprivileged admin's read-only look) leaves it alone
    if os.geteuid() != 0 and not os.access(path.parent, os.W_OK):
        return
    try:
        with open_store(config.store):
            refresh_snapshot(config)
    except (BorghiveError, OSError, sqlite3.Error) as exc:
        reason = exc.message if isinstance(exc, BorghiveError) else str(exc)
        sys.stderr.write(f"borghive: warning: login snapshot {path} not refreshed: {reason}\n")


@contextmanager
def accounts_session(config: Config) -> Iterator[AccountsBackend]:
    """The configured accounts backend, closed (connections released) afterwards."""
    from borghive.service.repositories.backends import accounts_backend

    accounts = accounts_backend(config)
    try:
        yield accounts
    finally:
        accounts.close()


def _register() -> None:
    from borghive.cli import (
        alert,
        authkeys_cmd,
        config_cmd,
        doctor,
        host,
        key,
        maintain,
        migrate,
        pings,
        repo,
        repo_history,
        repo_maintenance,
        repo_move,
        repo_pings,
        repo_reports,
        repo_rollback,
        session,
        stats,
        user,
        watch,
    )

    app.add_typer(user.app, name="user")
    app.add_typer(key.app, name="key")
    # repo_history, repo_maintenance, repo_move and repo_rollback register on repo.app when
    # imported.
    del repo_history, repo_maintenance, repo_move, repo_rollback
    repo_pings.register(repo.app)
    repo_reports.register(repo.app)
    app.add_typer(repo.app, name="repo")
    app.add_typer(session.app, name="session")
    app.add_typer(config_cmd.app, name="config")
    app.command("migrate")(migrate.migrate)
    app.command("authkeys")(authkeys_cmd.authkeys)
    app.command("doctor")(doctor.doctor)
    app.command("watch")(watch.watch)
    app.command("maintain")(maintain.maintain)
    app.command("pings")(pings.pings)
    app.add_typer(stats.app, name="stats")
    app.add_typer(alert.app, name="alert")
    app.add_typer(host.app, name="host")


_register()


def main() -> None:
    """Console-script entry point."""
    app()
