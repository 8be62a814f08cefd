"""``borghive repo move``: move a repository to another storage host, follow the move and
end it; and the two commands the move runs on the target host over SSH."""

from __future__ import annotations

from typing import Annotated

import typer

from borghive.cli.app import state, store_session
from borghive.cli.options import JsonOption, YesOption
from borghive.cli.render import emit_json, fields, say, when
from borghive.cli.repo import RepoArgument, app
from borghive.cli.usage import exclusive
from borghive.rules.quantities import parse_duration
from borghive.service.moves.run import MoveStatus


def _show(result: MoveStatus, json: bool) -> None:
    if json:
        emit_json(result)
        return
    fields(
        [
            ("repository", result.repository),
            ("move", str(result.move)),
            ("from", result.source_host),
            ("to", result.target_host),
            ("step", result.step),
            ("outcome", result.outcome or "open"),
            ("started", when(result.started)),
            ("switched", when(result.switched)),
            ("ended", when(result.ended)),
            ("detail", result.detail or "-"),
            ("client URL", result.url),
            ("source copy", result.source_copy or "-"),
        ]
    )


@app.command("move")
def move(
    ctx: typer.Context,
    repository: RepoArgument,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="The storage host to move it to (as 'borghive host list' names it). Run on "
            "the host it lives on; running it again after an interruption continues.",
        ),
    ] = None,
    wait: Annotated[
        str | None,
        typer.Option(
            "--wait",
            help="How long to wait for a client's session to end once logins are disabled "
            "(default: hosts.move_wait), then give up and give logins back: 30s, 5m, 1h.",
        ),
    ] = None,
    finish: Annotated[
        bool,
        typer.Option(
            "--finish",
            help="After the switch: move the source copy aside into "
            "REPOS_ROOT/.borghive-moved/ (nothing deleted) and end the move.",
        ),
    ] = False,
    purge_source: Annotated[
        bool,
        typer.Option(
            "--purge-source",
            help="After the switch: DELETE the source copy (asks first) and end the move.",
        ),
    ] = False,
    abort: Annotated[
        bool,
        typer.Option(
            "--abort",
            help="Before the switch: give logins back here and end the move; the target's "
            "partial copy stays for a later move there.",
        ),
    ] = False,
    show_status: Annotated[
        bool, typer.Option("--status", help="Show the open move, else the last one.")
    ] = False,
    yes: YesOption = False,
    json: JsonOption = False,
) -> None:
    """Move a repository to another storage host: disable logins, wait for sessions,
    copy it with rsync over SSH, verify the copy (rsync lists no difference, borg check
    --repository-only on the target), switch its host in the store, give logins back and
    print the new client URL. The source copy stays until --finish or --purge-source."""
    from borghive.service.moves import run

    exclusive(
        ctx,
        ("--to", to is not None),
        ("--finish", finish),
        ("--purge-source", purge_source),
        ("--abort", abort),
        ("--status", show_status),
    )
    if to is None and not (finish or purge_source or abort or show_status):
        raise typer.BadParameter(
            "give --to HOST, --finish, --purge-source, --abort or --status",
            ctx=ctx,
            param_hint="'--to'",
        )
    if wait is not None and to is None:
        raise typer.BadParameter("--wait goes with --to", ctx=ctx, param_hint="'--wait'")
    config = state(ctx).config
    seconds = parse_duration(wait if wait is not None else config.hosts.move_wait)
    if show_status:
        with store_session(ctx, readonly=True):
            _show(run.status(config, repository), json)
        return
    if to is not None and not yes:
        typer.confirm(f"Disable logins to {repository} and move it to {to}?", abort=True, err=True)
    if purge_source and not yes:
        typer.confirm(
            f"DELETE the source copy of {repository} on this host for good?",
            abort=True,
            err=True,
        )
    with store_session(ctx):
        if to is not None:
            result = run.move_repository(config, repository, to, wait=seconds)
        elif finish:
            result = run.finish_move(config, repository)
        elif purge_source:
            result = run.purge_source(config, repository)
        else:
            result = run.abort(config, repository)
    if json:
        emit_json(result)
        return
    if to is not None:
        say(
            f"{result.repository}: lives on {result.target_host} now (move {result.move}); "
            f"client URL {result.url}"
        )
        if result.source_copy:
            say(
                f"the source copy stays in {result.source_copy}: 'borghive repo move "
                f"{result.repository} --finish' moves it aside"
            )
        return
    _show(result, json)


@app.command("move-probe")
def move_probe(ctx: typer.Context, repository: RepoArgument, json: JsonOption = False) -> None:
    """Run by 'repo move' on the target host over SSH: whether the copy may go into this
    host's repos root (nothing there, or a copy an earlier move of it here left)."""
    from borghive.service.moves.peer import probe

    with store_session(ctx, readonly=True) as config:
        result = probe(config, repository)
    if json:
        emit_json(result)
    else:
        say(f"{result.home}: {'an earlier copy, resumed' if result.exists else 'free'}")


@app.command("move-check")
def move_check(
    ctx: typer.Context,
    move_id: Annotated[int, typer.Argument(help="The open move's id.", min=1, max=2**31)],
    json: JsonOption = False,
) -> None:
    """Run by 'repo move' on the target host over SSH: borg check --repository-only of
    the copy there, as the repository user; exit 1 when it fails."""
    from borghive.service.moves.peer import check_copy

    with store_session(ctx, readonly=True) as config:
        result = check_copy(config, move_id)
    if json:
        emit_json(result)
    else:
        say(f"{result.path}: borg check passed")
