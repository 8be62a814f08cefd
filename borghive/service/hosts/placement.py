"""Placement: which storage host a new repository goes to.

Explicit (``repo create --host H``): H must be a known host that is not draining.
Automatic: among the hosts that reported within ``hosts.report_within`` and are not
draining, the one with the most free bytes in its repos root (ties: by name). This host
reports itself first, so a site of one host always has a candidate. A SQLite store serves
one host: only this one.
"""

from __future__ import annotations

import datetime as dt

from borghive.config import Config
from borghive.errors import ConflictError, InvalidInputError
from borghive.rules.quantities import parse_duration
from borghive.rules.times import utcnow
from borghive.service.hosts.identity import this_host
from borghive.service.hosts.listing import check_host_name, find_host
from borghive.service.hosts.report import report_this_host
from borghive.store import is_sqlite, raw_rows
from borghive.store.models import StorageHost


def choose_host(config: Config, requested: str | None) -> str:
    """The storage host a new repository goes to. ``requested``: that host (validated as
    a host name first: InvalidInputError; unknown: NotFoundError; draining:
    ConflictError). None: automatic placement; ConflictError with a hint when no host
    qualifies. The store must be open."""
    here = this_host(config)
    if requested is not None:
        check_host_name(requested)
    sqlite = is_sqlite()
    if sqlite and requested not in (None, here):
        raise InvalidInputError(
            f"cannot place a repository on {requested}: a SQLite store serves one host ({here})",
            hint="several storage hosts share a PostgreSQL store (docs/how-to/postgresql.md)",
        )
    if requested is not None and requested != here:
        _refuse_draining(find_host(requested))
        return _accounts_reach(config, requested)
    # Refused before this host reports: a refused create writes nothing.
    own = StorageHost.get_or_none(StorageHost.name == here)
    if (sqlite or requested == here) and own is not None:
        _refuse_draining(own)
    report_this_host(config)
    return here if sqlite or requested == here else _accounts_reach(config, _most_free(config))


def _accounts_reach(config: Config, host: str) -> str:
    """``host``, when the accounts back end makes the repository user there: local
    accounts (useradd) exist only on the machine that creates them."""
    if config.accounts.backend == "local" and host != this_host(config):
        raise ConflictError(
            f'cannot place a repository on {host}: accounts.backend = "local" makes the '
            "repository user on this host only",
            hint="several storage hosts share their accounts through LDAP "
            '(accounts.backend = "ldap"); or run repo create on that host',
        )
    return host


def _refuse_draining(host: StorageHost) -> None:
    if host.draining:
        raise ConflictError(
            f"storage host {host.name} is draining: no new repositories go there",
            hint=f"choose another host, or 'borghive host drain {host.name} --undo'",
        )


def _most_free(config: Config) -> str:
    """The reported, not draining host with the most free bytes (one indexed query)."""
    since = utcnow() - dt.timedelta(seconds=parse_duration(config.hosts.report_within))
    query = (
        StorageHost.select(StorageHost.name)
        .where(
            (StorageHost.draining == False)  # noqa: E712 - peewee builds SQL from ==
            & StorageHost.free.is_null(False)
            & (StorageHost.reported >= since)
        )
        .order_by(StorageHost.free.desc(), StorageHost.name)
        .limit(1)
    )
    found = raw_rows(query)
    if not found:
        raise ConflictError(
            "no storage host can take a new repository: every host is draining, has not "
            f"reported within {config.hosts.report_within}, or could not measure its "
            "repos root",
            hint="see 'borghive host list'; choose one with --host, or "
            "'borghive host drain HOST --undo'",
        )
    return str(found[0][0])
