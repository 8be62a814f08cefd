"""``borghive session``: who is connected to this host's repositories, and ending a
session."""

from __future__ import annotations

from typing import Annotated

import typer

from borghive.cli.app import state, store_session
from borghive.cli.options import JsonOption, YesOption
from borghive.cli.render import emit_json, say, table, when
from borghive.service.sessions.kill import kill_sessions
from borghive.service.sessions.live import LiveSession, live_sessions

app = typer.Typer(help="Live borg sessions on this host: list them, end one.", no_args_is_help=True)

RepoOption = Annotated[
    str | None,
    typer.Option("--repo", "-r", help="Only this repository: OWNER/NAME or its repository user."),
]


def _key(session: LiveSession) -> str:
    if session.maintenance is not None:
        return f"(maintenance: {session.maintenance})"
    return session.key_name or session.key_fingerprint or "unknown"


def _source(session: LiveSession) -> str:
    if session.source is None:
        return "local" if session.maintenance is not None else "unknown"
    return f"{session.source}:{session.source_port}" if session.source_port else session.source


@app.command("list")
def list_(ctx: typer.Context, repo: RepoOption = None, json: JsonOption = False) -> None:
    """List the live borg sessions on this host: pid, repository, key, address, lock."""
    config = state(ctx).config
    with store_session(ctx, readonly=True):
        sessions = live_sessions(config, repo)
    if json:
        emit_json(sessions)
        return
    table(
        "Sessions",
        ["session", "pid", "repository", "key", "from", "since", "lock"],
        [
            (
                "-" if s.session is None else s.session,
                s.pid,
                s.repository,
                _key(s),
                _source(s),
                when(s.since),
                s.lock or "none",
            )
            for s in sessions
        ],
    )


@app.command("kill")
def kill(
    ctx: typer.Context,
    session: Annotated[
        str | None,
        typer.Argument(help="The session id or pid, as session list shows it.", show_default=False),
    ] = None,
    repo: Annotated[
        str | None,
        typer.Option("--repo", "-r", help="End every client session of this repository instead."),
    ] = None,
    yes: YesOption = False,
    json: JsonOption = False,
) -> None:
    """End a client session: SIGTERM, then SIGKILL if it has not ended after 10 s."""
    if (session is None) == (repo is None):
        raise typer.BadParameter("give either SESSION or --repo", param_hint="SESSION")
    if repo is not None and not yes:
        typer.confirm(f"End every client session of {repo}?", abort=True, err=True)
    config = state(ctx).config
    with store_session(ctx):
        killed = kill_sessions(config, session, repo)
    if json:
        emit_json(killed)
        return
    for item in killed:
        s = item.session
        say(
            f"ended session {'-' if s.session is None else s.session} (pid {s.pid}, key "
            f"{_key(s)} from {_source(s)}) of {s.repository} by {item.signal}"
        )
        if item.lock_left:
            say(
                "  its lock is left behind, held by a dead process on this host: borg 1.2 "
                "and later remove such a stale lock at the next access"
            )
