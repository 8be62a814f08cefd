"""``borghive host``: the storage hosts sharing this store, draining one, and refreshing
this host's login snapshot."""

from __future__ import annotations

from typing import Annotated

import typer

from borghive.cli.app import state, store_session
from borghive.cli.options import JsonOption
from borghive.cli.render import emit_json, fields, say, table, when
from borghive.rules.quantities import format_age, format_size
from borghive.service.hosts import listing
from borghive.service.hosts.listing import HostInfo
from borghive.service.hosts.rename import rename_host

app = typer.Typer(
    help="Storage hosts sharing this store: list them, show one, stop placement on one "
    "(drain), refresh this host's login snapshot.",
    no_args_is_help=True,
)

HostArgument = Annotated[
    str, typer.Argument(help="The storage host's name (its repos.host, or its host name).")
]


def _age(seconds: float | None) -> str:
    return "never" if seconds is None else f"{format_age(seconds)} ago"


def _snapshot(host: HostInfo) -> str:
    if host.snapshot_problem:
        return f"PROBLEM: {host.snapshot_problem}"
    if host.snapshot_age is None:
        return "-"
    return f"confirmed {_age(host.snapshot_age)}"


def _name(host: HostInfo) -> str:
    return f"{host.name} (this host)" if host.this_host else host.name


@app.command("list")
def list_(ctx: typer.Context, json: JsonOption = False) -> None:
    """List the storage hosts: capacity, used and free bytes of each repos root, the
    repositories placed there, last report, version, draining, login snapshot state."""
    config = state(ctx).config
    with store_session(ctx, readonly=True):
        hosts = listing.list_hosts(config)
    if json:
        emit_json(hosts)
        return
    table(
        "Storage hosts",
        [
            "host",
            "capacity",
            "used",
            "free",
            "repositories",
            "reported",
            "version",
            "placement",
            "snapshot",
        ],
        [
            (
                _name(h),
                format_size(h.capacity),
                format_size(h.used),
                format_size(h.free),
                h.repositories,
                _age(h.report_age),
                h.version,
                "draining" if h.draining else "open",
                _snapshot(h),
            )
            for h in hosts
        ],
    )


def _render(host: HostInfo) -> list[tuple[str, object]]:
    return [
        ("host", _name(host)),
        ("placement", "draining (no new repositories)" if host.draining else "open"),
        ("capacity", format_size(host.capacity)),
        ("used", format_size(host.used)),
        ("free", format_size(host.free)),
        ("repositories", host.repositories),
        ("reported", f"{when(host.reported)} ({_age(host.report_age)})"),
        ("version", host.version),
        ("repos root", host.repos_root),
        ("ssh port", host.ssh_port),
        ("peer", None if host.peer_address is None else f"{host.peer_address}:{host.peer_port}"),
        ("snapshot", _snapshot(host)),
    ]


@app.command("show")
def show(ctx: typer.Context, host: HostArgument, json: JsonOption = False) -> None:
    """Show one storage host: everything host list shows, where it is reached, its
    repositories by mode and the open repository moves to or from it."""
    config = state(ctx).config
    with store_session(ctx, readonly=True):
        detail = listing.show_host(config, host)
    if json:
        emit_json(detail)
        return
    modes = ", ".join(f"{mode} {count}" for mode, count in detail.modes.items()) or "none"
    fields([*_render(detail.host), ("by mode", modes)])
    if detail.moves:
        table(
            "Open moves",
            ["repository", "direction", "from", "to", "step", "started"],
            [
                (m.repository, m.direction, m.source_host, m.target_host, m.step, when(m.started))
                for m in detail.moves
            ],
        )


@app.command("drain")
def drain(
    ctx: typer.Context,
    host: HostArgument,
    undo: Annotated[
        bool, typer.Option("--undo", help="Allow placement on the host again.")
    ] = False,
    json: JsonOption = False,
) -> None:
    """Stop placing new repositories on a host (automatic and --host); its repositories
    stay there and are served. Move them away with borghive repo move."""
    config = state(ctx).config
    with store_session(ctx):
        info = listing.set_draining(config, host, not undo)
    if json:
        emit_json(info)
        return
    if undo:
        say(f"storage host {info.name} takes new repositories again")
    else:
        say(
            f"storage host {info.name} is draining: no new repositories go there "
            f"({info.repositories} stay until moved)"
        )


@app.command("rename")
def rename(
    ctx: typer.Context,
    old: Annotated[str, typer.Argument(help="The host's name in the store now.")],
    new: Annotated[str, typer.Argument(help="Its new name (its repos.host from now on).")],
    json: JsonOption = False,
) -> None:
    """Rename a storage host, with every repository placed on it, in one transaction: run
    it when a host's repos.host (or host name) changed, else its repositories are placed on
    a name no host has and their logins are refused."""
    with store_session(ctx):
        renamed = rename_host(old, new)
    if json:
        emit_json(renamed)
        return
    say(f"storage host {renamed.old} is now {renamed.new} ({renamed.repositories} repositories)")


@app.command("refresh")
def refresh(ctx: typer.Context, json: JsonOption = False) -> None:
    """Rebuild this host's login snapshot from the store now (PostgreSQL stores only; the
    watch daemon keeps it current by itself)."""
    config = state(ctx).config
    with store_session(ctx):
        result = listing.refresh_this_host(config)
    if json:
        emit_json({"refreshed": result is not None, "snapshot": result})
        return
    if result is None:
        say("nothing to refresh: on a SQLite store authkeys reads the store itself")
        return
    say(
        f"login snapshot {result.path} rebuilt: {result.repositories} repositories, "
        f"{result.grants} grants in {result.seconds:.2f}s"
    )
