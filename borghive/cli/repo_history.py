"""``borghive repo history``: the transactions borg committed, read from the segments."""

from __future__ import annotations

from typing import Annotated

import typer

from borghive.cli.app import state, store_session
from borghive.cli.options import JsonOption
from borghive.cli.render import emit_json, say, table, when
from borghive.cli.repo import RepoArgument, app
from borghive.rules.quantities import format_size, parse_duration

SinceOption = Annotated[
    str | None,
    typer.Option("--since", help="Only transactions from this recent period: 30d, 12h."),
]


@app.command("history")
def history(
    ctx: typer.Context,
    repository: RepoArgument,
    since: SinceOption = None,
    json: JsonOption = False,
) -> None:
    """List a repository's transactions, newest first: time, who (key and address where a
    session was seen, or maintenance), objects put and deleted, bytes added. Read from the
    segment headers without the key; what is new on disk is read first. Transactions that
    delete objects are marked DELETES."""
    from borghive.service.history.view import repository_history

    seconds = None if since is None else parse_duration(since)
    with store_session(ctx):
        found = repository_history(state(ctx).config, repository, seconds)
    if json:
        emit_json(found)
        return
    if found.update is None:
        say(f"{found.repository}: not on this host's disk; showing what the store has")
    elif found.update.problem:
        say(f"{found.repository}: segments could not be read: {found.update.problem}")
    table(
        f"{found.repository}: {len(found.transactions)} transactions",
        ["transaction", "time", "by", "key", "from", "put", "deleted", "added", ""],
        [
            [
                t.transaction,
                when(t.time),
                t.made_by,
                (t.key or "") + (" (append-only)" if t.append_only else ""),
                t.source,
                t.puts,
                t.deletes,
                format_size(t.bytes_added),
                "DELETES" if t.deleting else "",
            ]
            for t in found.transactions
        ],
    )
