"""``borghive repo rollback`` and ``borghive repo quarantine``: undoing transactions by
moving their segments aside, and what was moved."""

from __future__ import annotations

from typing import Annotated

import typer

from borghive.cli.app import state, store_session
from borghive.cli.options import JsonOption, YesOption
from borghive.cli.render import emit_json, say, table
from borghive.cli.repo import RepoArgument, app
from borghive.cli.usage import exclusive
from borghive.rules.quantities import format_size

quarantine_app = typer.Typer(
    help="What rollbacks moved aside: list it, or delete it for good.", no_args_is_help=True
)
app.add_typer(quarantine_app, name="quarantine")


def _client_steps(shown: str, repository_id: str | None) -> list[str]:
    security = f"~/.config/borg/security/{repository_id or '<repository id>'}/manifest-timestamp"
    return [
        f"every client of {shown} must now, before its next backup:",
        "  borg delete --cache-only REPOSITORY   (its cache describes archives that are gone)",
        f"  rm {security}",
    ]


@app.command("rollback")
def rollback(
    ctx: typer.Context,
    repository: RepoArgument,
    to: Annotated[
        int | None,
        typer.Option(
            "--to",
            min=0,
            max=2**31,
            help="The transaction to go back to (as 'repo history' lists them): every later "
            "one is moved aside.",
        ),
    ] = None,
    undo: Annotated[
        bool, typer.Option("--undo", help="Put the newest rollback's files back.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list what would move; change nothing.")
    ] = False,
    yes: YesOption = False,
    json: JsonOption = False,
) -> None:
    """Roll a repository back to an earlier transaction (after a deletion through an
    append-only key, say). Refuses while a session or lock is on it, or when compaction has
    removed what the target needs. Logins are disabled meanwhile; the later segments and
    the index files are MOVED into a quarantine beside the repository (nothing is
    deleted); borg check --repository-only verifies the result, else everything is put
    back. --undo puts the files back."""
    from borghive.service.rollback.run import rollback as roll_back
    from borghive.service.rollback.run import undo as undo_rollback

    exclusive(ctx, ("--to", to is not None), ("--undo", undo))
    if to is None and not undo:
        raise typer.BadParameter("give --to TRANSACTION or --undo", ctx=ctx, param_hint="'--to'")
    if undo and dry_run:
        raise typer.BadParameter("--dry-run goes with --to", ctx=ctx, param_hint="'--dry-run'")
    config = state(ctx).config
    if not (yes or dry_run):
        what = "undo its last rollback" if undo else f"roll it back to transaction {to}"
        typer.confirm(f"Disable logins to {repository} and {what}?", abort=True, err=True)
    with store_session(ctx):
        result = (
            undo_rollback(config, repository)
            if undo
            else roll_back(config, repository, int(to or 0), dry_run=dry_run)
        )
    if json:
        emit_json(result)
        return
    if result.interrupted_undone:
        say(f"an interrupted rollback ({result.interrupted_undone}) was undone first")
    if result.dry_run:
        say(
            f"{result.repository}: rolling back to {result.target} would undo "
            f"{len(result.undone)} transactions ({', '.join(map(str, result.undone[:10]))}"
            f"{' …' if len(result.undone) > 10 else ''}) and move {len(result.moves)} files:"
        )
        for move in result.moves:
            say(f"  {move}")
        return
    if undo:
        verdict = "borg check passed" if result.verified else "borg check FAILED"
        say(
            f"{result.repository}: put back {len(result.moves)} files from "
            f"{result.quarantine}; {verdict}"
        )
    else:
        say(
            f"{result.repository}: rolled back to transaction {result.target}; "
            f"{len(result.undone)} transactions, {len(result.moves)} files moved to quarantine "
            f"{result.quarantine}; borg check passed"
        )
    for line in _client_steps(result.repository, result.repository_id):
        say(line)


@quarantine_app.command("list")
def quarantine_list(ctx: typer.Context, repository: RepoArgument, json: JsonOption = False) -> None:
    """List a repository's quarantines: id, state, the rollback's target, files, size."""
    from borghive.service.rollback.manage import list_quarantines

    with store_session(ctx, readonly=True):
        found = list_quarantines(state(ctx).config, repository)
    if json:
        emit_json(found)
        return
    table(
        f"{repository}: {len(found)} quarantines",
        ["id", "state", "target", "files", "size"],
        [[q.id, q.state, q.target, q.files, format_size(q.bytes)] for q in found],
    )


@quarantine_app.command("purge")
def quarantine_purge(
    ctx: typer.Context,
    repository: RepoArgument,
    ids: Annotated[
        list[str] | None,
        typer.Argument(help="Quarantine ids ('repo quarantine list'); none: all of them."),
    ] = None,
    yes: YesOption = False,
    json: JsonOption = False,
) -> None:
    """DELETE quarantined files for good (asks first): after this, a rollback cannot be
    undone. An interrupted rollback's quarantine is refused."""
    from borghive.service.rollback.manage import purge_quarantines

    if not yes:
        what = ", ".join(ids) if ids else "ALL quarantines"
        typer.confirm(f"Delete {what} of {repository} for good?", abort=True, err=True)
    with store_session(ctx):
        purged = purge_quarantines(state(ctx).config, repository, list(ids or []))
    if json:
        emit_json(purged)
        return
    for q in purged:
        say(f"deleted quarantine {q.id} ({q.files} files, {format_size(q.bytes)})")
    if not purged:
        say(f"{repository}: no quarantines")
