"""``borghive key``: SSH public keys."""

from __future__ import annotations

from typing import Annotated

import typer

from borghive.cli.app import state, store_session
from borghive.cli.options import JsonOption, YesOption
from borghive.cli.render import counted, emit_json, fields, say, table, when
from borghive.inputs import read_input
from borghive.rules.sshkeys import MAX_KEY_TEXT, key_text
from borghive.service.users import keys

app = typer.Typer(help="Manage SSH public keys owned by users.", no_args_is_help=True)

KeyArgument = Annotated[
    str, typer.Argument(help="The key: OWNER/NAME or its SHA256:… fingerprint.")
]


@app.command("add")
def add(
    ctx: typer.Context,
    owner: Annotated[str, typer.Argument(help="The user who owns the key.")],
    source: Annotated[
        str,
        typer.Argument(
            help="File with one OpenSSH public key (e.g. id_ed25519.pub; a regular file "
            "of at most 16 KiB), or - for standard input.",
        ),
    ],
    name: Annotated[
        str | None,
        typer.Option("--name", help="Key name, unique per owner (default: the key's comment)."),
    ] = None,
    allowed_from: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Only allow logins from these addresses/networks, comma-separated "
            "(e.g. 192.0.2.0/24,2001:db8::/32).",
        ),
    ] = None,
    json: JsonOption = False,
) -> None:
    """Add an OpenSSH public key for a user (ed25519, RSA, ECDSA, FIDO security keys)."""
    text = key_text(read_input(source, what="key file", limit=MAX_KEY_TEXT))
    config = state(ctx).config
    with store_session(ctx):
        key = keys.add_key(
            owner, text, name, rsa_min_bits=config.keys.rsa_min_bits, allowed_from=allowed_from
        )
    if json:
        emit_json(key)
    else:
        say(f"added key {key.owner}/{key.name} {key.key_type} {key.bits} bits {key.fingerprint}")


@app.command("list")
def list_(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", "-u", help="Only this user's keys.")] = None,
    json: JsonOption = False,
) -> None:
    """List keys with the repositories each opens."""
    with store_session(ctx, readonly=True):
        result = keys.list_keys(user)
    if json:
        emit_json(result)
        return
    table(
        "SSH keys",
        ["key", "type", "bits", "fingerprint", "repositories", "created"],
        [
            (
                f"{k.owner}/{k.name}",
                k.key_type,
                k.bits,
                k.fingerprint,
                ", ".join(g.repository for g in k.grants),
                when(k.created),
            )
            for k in result
        ],
    )


@app.command("show")
def show(ctx: typer.Context, key: KeyArgument, json: JsonOption = False) -> None:
    """Show one key and the repositories it opens."""
    with store_session(ctx, readonly=True):
        info = keys.get_key(key)
    if json:
        emit_json(info)
        return
    fields(
        [
            ("key", f"{info.owner}/{info.name}"),
            ("type", f"{info.key_type} ({info.bits} bits)"),
            ("fingerprint", info.fingerprint),
            ("comment", info.comment),
            ("allowed from", info.allowed_from or "anywhere"),
            ("created", when(info.created)),
            (
                "last used",
                "never"
                if info.last_used is None
                else f"{when(info.last_used)} from {info.last_used_from or 'unknown'}",
            ),
            ("repositories", ", ".join(f"{g.repository} ({g.mode})" for g in info.grants)),
            ("public key", info.public_key),
        ]
    )


@app.command("remove")
def remove(
    ctx: typer.Context,
    key: KeyArgument,
    force: Annotated[
        bool, typer.Option("--force", help="Revoke the key from every repository, then remove it.")
    ] = False,
    yes: YesOption = False,
) -> None:
    """Remove a key; refused while it grants access to a repository, unless --force."""
    if force and not yes:
        typer.confirm(f"Revoke {key} from every repository and remove it?", abort=True, err=True)
    with store_session(ctx):
        info = keys.remove_key(key, force=force)
    revoked = (
        f" (revoked from {counted(len(info.grants), 'repository', 'repositories')})"
        if info.grants
        else ""
    )
    say(f"removed key {info.owner}/{info.name}{revoked}")
