"""``borghive repo``: repositories, their keys and their repository users."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Annotated

import typer

from borghive.cli.app import accounts_session, state, store_session
from borghive.cli.maintenance_options import (
    CheckEveryOption,
    CompactAppendOnlyOption,
    CompactEveryOption,
    every_option,
    yes_no,
)
from borghive.cli.options import JsonOption, YesOption
from borghive.cli.render import counted, emit_json, fields, say, table, when
from borghive.cli.repo_borg import BorgOption, borg_choice, borg_words
from borghive.cli.repo_reports import client_fields
from borghive.cli.usage import exclusive
from borghive.rules.quantities import format_duration, format_size, parse_duration, parse_size
from borghive.service.pings.urls import existing_ping_url, repository_ping_url
from borghive.service.repositories import grants
from borghive.service.repositories import lifecycle as repos
from borghive.service.repositories import view as repo_view
from borghive.service.repositories.lifecycle import RepoChanges
from borghive.service.repositories.sync import sync_accounts
from borghive.service.repositories.view import RepoDetail

app = typer.Typer(
    help="Manage repositories: create, grant keys, change settings, delete.", no_args_is_help=True
)

RepoArgument = Annotated[
    str, typer.Argument(help="The repository: OWNER/NAME or its repository user name.")
]
QuotaOption = Annotated[
    str | None,
    typer.Option(
        "--quota",
        help="Storage quota, decimal units, at least 10M (borg serve refuses less): 500M, 2G, "
        "1.5T ('none' clears).",
    ),
]
AlertOption = Annotated[
    str | None,
    typer.Option(
        "--alert-after",
        help="Alert when the last backup is older than this: 36h, 3d ('none' clears).",
    ),
]
ModeOption = Annotated[
    str | None,
    typer.Option("--mode", help="borg (default), import, export (rsync) or disabled."),
]

# What the line printed after "repo create" does, by mode (the line: rules/layout.py).
_FIRST_STEP = {
    "borg": "initialise it",
    "import": "copy files into it (write-only)",
    "export": "copy its files (read-only)",
}


def _optional(value: str | None, parse: Callable[[str], int]) -> tuple[int | None, bool]:
    """(parsed value, clear) for options that accept 'none'."""
    if value is None:
        return None, False
    if value.strip().lower() == "none":
        return None, True
    return parse(value), False


@app.command("create")
def create(
    ctx: typer.Context,
    repository: Annotated[str, typer.Argument(help="OWNER/NAME of the new repository.")],
    key: Annotated[
        list[str] | None,
        typer.Option(
            "--key",
            "-k",
            help="Grant full access to this key (OWNER/NAME, the "
            "owner's key NAME, or SHA256:…); repeatable.",
        ),
    ] = None,
    append_only_key: Annotated[
        list[str] | None,
        typer.Option("--append-only-key", help="Grant append-only access to this key; repeatable."),
    ] = None,
    quota: QuotaOption = None,
    alert_after: AlertOption = None,
    mode: ModeOption = None,
    borg: BorgOption = None,
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            help="The storage host it goes to (see borghive host list; default: the host "
            "with the most free space among those that reported lately and are not "
            "draining).",
        ),
    ] = None,
    json: JsonOption = False,
) -> None:
    """Create a repository with its own repository user on a storage host and print the
    client URL."""
    for both in sorted(set(key or ()) & set(append_only_key or ())):
        exclusive(ctx, (f"--key {both}", True), (f"--append-only-key {both}", True))
    quota_bytes, _ = _optional(quota, parse_size)
    alert_seconds, _ = _optional(alert_after, parse_duration)
    config = state(ctx).config
    borg_name, _ = borg_choice(ctx, config, borg)
    with store_session(ctx), accounts_session(config) as accounts:
        created = repos.create_repository(
            config,
            accounts,
            repository,
            keys=key,
            append_only_keys=append_only_key,
            quota=quota_bytes,
            alert_after=alert_seconds,
            mode="borg" if mode is None else mode,
            borg_name=borg_name,
            host=host,
        )
    if json:
        emit_json(created)
        return
    info = created.repository
    say(f"created repository {info.owner}/{info.name}")
    fields(
        [
            ("repository user", f"{info.repo_user} (uid {info.uid_number})"),
            ("host", info.host),
            ("path", info.path),
            ("url", info.url),
            ("keys", info.key_count),
            *([("borg", info.borg_name)] if info.borg_name else []),
        ]
    )
    if created.client_command is None:
        say(
            f"no client can log in while its mode is {info.mode}: "
            f"borghive repo set {info.owner}/{info.name} --mode borg|import|export"
        )
    else:
        step = _FIRST_STEP.get(info.mode, "then run")
        say(f"{step} from the client with:\n  {created.client_command}")
    if info.mode == "borg":  # borgmatic reports borg runs; rsync clients use curl
        _say_ping_url(ctx, f"{info.owner}/{info.name}")


def _say_ping_url(ctx: typer.Context, repository: str) -> None:
    """The borgmatic lines that report the repository's runs to ``borghive pings``."""
    with store_session(ctx):
        ping = repository_ping_url(state(ctx).config, repository)
    say(f"report runs from borgmatic with (see borghive repo ping-url):\n{ping.borgmatic}".rstrip())


@app.command("list")
def list_(
    ctx: typer.Context,
    user: Annotated[
        str | None, typer.Option("--user", "-u", help="Only this user's repositories.")
    ] = None,
    json: JsonOption = False,
) -> None:
    """List repositories."""
    config = state(ctx).config
    with store_session(ctx, readonly=True):
        result = repo_view.list_repositories(config, user)
    if json:
        emit_json(result)
        return
    table(
        "Repositories",
        [
            "repository",
            "user",
            "uid",
            "host",
            "mode",
            "quota",
            "keys",
            "last update",
            "last access",
        ],
        [
            (
                f"{r.owner}/{r.name}",
                r.repo_user,
                r.uid_number,
                r.host,
                r.mode,
                format_size(r.quota),
                r.key_count,
                when(r.last_update),
                when(r.last_access),
            )
            for r in result
        ],
    )


def _last_use(access: grants.AccessInfo) -> str:
    if access.last_used is None:
        return "never"
    return f"{when(access.last_used)} from {access.last_used_from or 'unknown'}"


def _render_detail(detail: RepoDetail) -> None:
    info = detail.repository
    if detail.account is None:
        account = f"not managed (accounts backend {detail.accounts_backend})"
    elif not detail.account.exists:
        account = "MISSING"
    elif detail.account.problems:
        account = "differs: " + "; ".join(detail.account.problems)
    else:
        account = "present, matches"
    statistic = detail.last_statistic
    fields(
        [
            ("repository", f"{info.owner}/{info.name}"),
            ("repository user", f"{info.repo_user} (uid {info.uid_number})"),
            ("account", account),
            ("mode", f"{info.mode} (being purged: no logins)" if info.being_purged else info.mode),
            ("host", info.host),
            *([("move", detail.open_move)] if detail.open_move else []),
            ("path", info.path),
            ("url", info.url),
            ("borg", borg_words(detail)),
            ("quota", format_size(info.quota)),
            ("alert after", format_duration(info.alert_after)),
            ("last access", when(info.last_access)),
            ("last update", when(info.last_update)),
            ("created", when(info.created)),
            (
                "usage",
                f"{format_size(statistic.bytes_used)} in {statistic.file_count} files "
                f"({when(statistic.time)})"
                if statistic
                else None,
            ),
            *client_fields(detail),
        ]
    )
    table(
        "Keys",
        ["key", "mode", "fingerprint", "from", "last used"],
        [
            (a.key, a.mode, a.fingerprint, a.allowed_from or "anywhere", _last_use(a))
            for a in detail.accesses
        ],
    )
    if detail.events:
        table(
            "Recent events",
            ["time", "event", "detail"],
            [(when(e.time), e.kind, e.detail) for e in detail.events],
        )


@app.command("show")
def show(ctx: typer.Context, repository: RepoArgument, json: JsonOption = False) -> None:
    """Show a repository: keys, access modes, last access/update, events, usage, account,
    the last client report and the last session."""
    config = state(ctx).config
    with store_session(ctx, readonly=True), accounts_session(config) as accounts:
        detail = repo_view.show_repository(config, accounts, repository)
        ping = existing_ping_url(config, repository)
    if json:
        emit_json({**dataclasses.asdict(detail), "ping_url": ping})
    else:
        _render_detail(detail)
        say(f"ping url: {ping or '(none yet: borghive repo ping-url)'}")


@app.command("set")
def set_(
    ctx: typer.Context,
    repository: RepoArgument,
    quota: QuotaOption = None,
    alert_after: AlertOption = None,
    mode: ModeOption = None,
    borg: BorgOption = None,
    compact_every: CompactEveryOption = None,
    check_every: CheckEveryOption = None,
    compact_append_only: CompactAppendOnlyOption = None,
    json: JsonOption = False,
) -> None:
    """Change a repository's quota, alert period, mode (disabled locks the account), borg
    or maintenance schedule."""
    quota_bytes, clear_quota = _optional(quota, parse_size)
    alert_seconds, clear_alert = _optional(alert_after, parse_duration)
    compact_seconds, clear_compact = every_option(compact_every)
    check_seconds, clear_check = every_option(check_every)
    config = state(ctx).config
    borg_name, clear_borg = borg_choice(ctx, config, borg)
    changes = RepoChanges(
        quota=quota_bytes,
        clear_quota=clear_quota,
        alert_after=alert_seconds,
        clear_alert_after=clear_alert,
        mode=mode,
        borg_name=borg_name,
        clear_borg=clear_borg,
        compact_every=compact_seconds,
        clear_compact_every=clear_compact,
        check_every=check_seconds,
        clear_check_every=clear_check,
        compact_append_only=yes_no(compact_append_only, "--compact-append-only"),
    )
    with store_session(ctx), accounts_session(config) as accounts:
        info = repos.set_repository(config, accounts, repository, changes)
    if json:
        emit_json(info)
    else:
        say(
            f"{info.owner}/{info.name}: mode {info.mode}, quota {format_size(info.quota)}, "
            f"alert after {format_duration(info.alert_after)}, borg {info.borg_name or 'default'}"
        )


KeyForRepo = Annotated[
    str,
    typer.Argument(help="The key: NAME (the repository owner's), OWNER/NAME or SHA256:…."),
]


@app.command("grant")
def grant(
    ctx: typer.Context,
    repository: RepoArgument,
    key: KeyForRepo,
    append_only: Annotated[
        bool, typer.Option("--append-only", help="Allow adding archives only, not deleting.")
    ] = False,
    allowed_from: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="For this repository, only allow logins from these addresses/networks "
            "(comma-separated; replaces the key's own restriction).",
        ),
    ] = None,
    json: JsonOption = False,
) -> None:
    """Let a key open a repository (or change its access mode)."""
    config = state(ctx).config
    with store_session(ctx), accounts_session(config) as accounts:
        access = grants.grant_access(
            repository,
            key,
            append_only=append_only,
            allowed_from=allowed_from,
            config=config,
            accounts=accounts,
        )
    if json:
        emit_json(access)
    else:
        say(f"granted {access.key} {access.mode} access to {repository}")


@app.command("revoke")
def revoke(ctx: typer.Context, repository: RepoArgument, key: KeyForRepo) -> None:
    """Stop a key from opening a repository; effective at the next login."""
    with store_session(ctx):
        access = grants.revoke_access(repository, key)
    say(f"revoked {access.key} from {repository}")


@app.command("delete")
def delete(
    ctx: typer.Context,
    repository: RepoArgument,
    purge: Annotated[
        bool,
        typer.Option("--purge", help="Also delete the repository's data on disk (asks first)."),
    ] = False,
    yes: YesOption = False,
    json: JsonOption = False,
) -> None:
    """Delete a repository's record and account; its data stays on disk unless --purge."""
    config = state(ctx).config
    if not yes:
        what = "and DELETE ALL ITS BACKUP DATA" if purge else "(its data stays on disk)"
        typer.confirm(f"Delete repository {repository} {what}?", abort=True, err=True)
    with store_session(ctx), accounts_session(config) as accounts:
        deleted = repos.delete_repository(config, accounts, repository, purge=purge)
    if json:
        emit_json(deleted)
        return
    info = deleted.repository
    say(f"deleted repository {info.owner}/{info.name} and its user {info.repo_user}")
    if deleted.purged:
        say(f"purged {info.path} and its home directory")
    elif deleted.data_left:
        say(f"its data stays in {deleted.data_left}; delete it with --purge, or move it away")


@app.command("sync")
def sync(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only report what would change.")
    ] = False,
    prune: Annotated[
        bool,
        typer.Option("--prune", help="Delete orphaned accounts (borghive's, not in the store)."),
    ] = False,
    json: JsonOption = False,
) -> None:
    """Reconcile the store with the accounts backend: resolve account changes left in
    doubt, create missing accounts, repair drifted ones, remove memberships without an
    account, list orphans (delete them with --prune)."""
    config = state(ctx).config
    with store_session(ctx, readonly=dry_run), accounts_session(config) as accounts:
        report = sync_accounts(config, accounts, dry_run=dry_run, prune=prune)
    if json:
        emit_json(report)
        return
    if report.items:
        table(
            f"Accounts ({report.backend} backend{', dry run' if dry_run else ''})",
            ["repository user", "action", "done", "detail"],
            [(i.name, i.action, "yes" if i.done else "no", i.detail) for i in report.items],
        )
    say(
        f"{counted(report.checked, 'repository', 'repositories')} checked, "
        f"{counted(len(report.items), 'account')} differ"
        + (" (dry run: nothing changed)" if dry_run else "")
    )
