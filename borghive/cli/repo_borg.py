"""``--borg`` of ``repo create`` and ``repo set``, and how ``repo show`` names the borg."""

from __future__ import annotations

from typing import Annotated

import typer

from borghive.config import Config
from borghive.service.repositories.borgs import UnknownBorgError, chosen_borg
from borghive.service.repositories.view import RepoDetail

BorgOption = Annotated[
    str | None,
    typer.Option(
        "--borg",
        help="The borg that serves it: a name in [borg.versions], or 'default' (borg.path); "
        "the next login uses it.",
    ),
]


def borg_choice(ctx: typer.Context, config: Config, text: str | None) -> tuple[str | None, bool]:
    """(name to store, back to borg.path) for --borg; an unknown name is a usage error."""
    if text is None:
        return None, False
    try:
        name = chosen_borg(config, text)
    except UnknownBorgError as exc:
        raise typer.BadParameter(exc.message, ctx=ctx, param_hint="'--borg'") from None
    return name, name is None


def borg_words(detail: RepoDetail) -> str | None:
    """The borg line of repo show: name and path, or that logins fail."""
    borg = detail.borg
    if borg is None:
        return None
    if borg.path is None:
        return f"{borg.name}: NOT in [borg.versions], logins fail"
    return f"{borg.name} ({borg.path})"
