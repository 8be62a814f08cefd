"""``borghive user``: people who own keys and repositories."""

from __future__ import annotations

from typing import Annotated

import typer

from borghive.cli import notify
from borghive.cli.app import store_session
from borghive.cli.options import JsonOption
from borghive.cli.render import emit_json, fields, say, table, when
from borghive.cli.usage import exclusive
from borghive.rules.quantities import format_duration, parse_duration
from borghive.service.users import people as users
from borghive.service.users.people import UserInfo

app = typer.Typer(
    help="Manage users: the people who own SSH keys and repositories.", no_args_is_help=True
)

NameArgument = Annotated[str, typer.Argument(help="User name (letters, digits, . _ -).")]
RealertOption = Annotated[
    str | None,
    typer.Option("--realert", help="Repeat a stale-backup alert at most this often (e.g. 12h)."),
]
ExpirationOption = Annotated[
    str | None,
    typer.Option(
        "--expiration", help="Stop repeating alerts this long after the last update (e.g. 5d)."
    ),
]


def _show(user: UserInfo) -> None:
    fields(
        [
            ("name", user.name),
            ("email", user.email),
            ("re-alert interval", format_duration(user.realert_interval)),
            ("alert expiration", format_duration(user.alert_expiration)),
            ("keys", user.key_count),
            ("repositories", user.repository_count),
            ("created", when(user.created)),
        ]
    )


@app.command("add")
def add(
    ctx: typer.Context,
    name: NameArgument,
    email: Annotated[str | None, typer.Option("--email", help="E-mail address for alerts.")] = None,
    realert: RealertOption = None,
    expiration: ExpirationOption = None,
    json: JsonOption = False,
) -> None:
    """Add a user."""
    realert_seconds = None if realert is None else parse_duration(realert)
    expiration_seconds = None if expiration is None else parse_duration(expiration)
    with store_session(ctx):
        user = users.add_user(name, email, realert_seconds, expiration_seconds)
    if json:
        emit_json(user)
    else:
        say(f"added user {user.name}")


@app.command("list")
def list_(ctx: typer.Context, json: JsonOption = False) -> None:
    """List users with how many keys and repositories each owns."""
    with store_session(ctx, readonly=True):
        result = users.list_users()
    if json:
        emit_json(result)
        return
    table(
        "Users",
        ["name", "email", "keys", "repositories", "created"],
        [(u.name, u.email, u.key_count, u.repository_count, when(u.created)) for u in result],
    )


@app.command("show")
def show(ctx: typer.Context, name: NameArgument, json: JsonOption = False) -> None:
    """Show one user."""
    with store_session(ctx, readonly=True):
        user = users.get_user(name)
    if json:
        emit_json(user)
    else:
        _show(user)


@app.command("set")
def set_(
    ctx: typer.Context,
    name: NameArgument,
    email: Annotated[str | None, typer.Option("--email", help="New e-mail address.")] = None,
    no_email: Annotated[
        bool, typer.Option("--no-email", help="Remove the e-mail address (not with --email).")
    ] = False,
    realert: RealertOption = None,
    expiration: ExpirationOption = None,
    json: JsonOption = False,
) -> None:
    """Change a user's e-mail address or alert preferences."""
    exclusive(ctx, ("--email", email is not None), ("--no-email", no_email))
    realert_seconds = None if realert is None else parse_duration(realert)
    expiration_seconds = None if expiration is None else parse_duration(expiration)
    with store_session(ctx):
        user = users.set_user(
            name,
            email=email,
            clear_email=no_email,
            realert_interval=realert_seconds,
            alert_expiration=expiration_seconds,
        )
    if json:
        emit_json(user)
    else:
        _show(user)


@app.command("remove")
def remove(ctx: typer.Context, name: NameArgument) -> None:
    """Remove a user; refused while the user owns keys or repositories."""
    with store_session(ctx):
        users.remove_user(name)
    say(f"removed user {name}")


app.add_typer(notify.app, name="notify")
