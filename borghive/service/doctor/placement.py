"""Doctor check of placement: this host is a known storage host, and no repository is
placed on a host name the store does not know (a host whose repos.host changed without
``borghive host rename`` leaves its repositories there, and their logins are refused)."""

from __future__ import annotations

from peewee import fn

from borghive.config import Config
from borghive.errors import BorghiveError
from borghive.service.doctor.findings import Check
from borghive.service.hosts.identity import this_host


def check_placement(config: Config) -> Check:
    """FAIL for repositories placed on unknown host names (or, on a SQLite store, on any
    other name than this host's); warn when this host never reported."""
    from borghive.store import open_store, raw_rows
    from borghive.store.models import Repository, StorageHost

    name = "placement"
    here = this_host(config)
    try:
        with open_store(config.store, readonly=True):
            known = {host for (host,) in raw_rows(StorageHost.select(StorageHost.name))}
            placed = dict(
                raw_rows(
                    Repository.select(Repository.host, fn.COUNT(Repository.id)).group_by(
                        Repository.host
                    )
                )
            )
    except BorghiveError as error:
        return Check(name, "FAIL", f"cannot read the storage hosts: {error.message}")
    sqlite = config.store.url.startswith("sqlite:")
    lost = {
        host: int(count)
        for host, count in placed.items()
        if host != here and (sqlite or host not in known)
    }
    if lost:
        shown = ", ".join(f"{count} on {host or '(none)'}" for host, count in sorted(lost.items()))
        old = sorted(lost)[0]
        return Check(
            name,
            "FAIL",
            f"repositories placed on a host name no storage host has ({shown}): their logins "
            f"are refused; if that was this host's name before repos.host changed, run: "
            f"borghive host rename {old} {here}",
        )
    if here not in known:
        return Check(
            name,
            "warn",
            f"this host ({here}) is not among the storage hosts yet: borghive migrate, "
            "stats collect or watch reports it",
        )
    local = placed.get(here, 0)
    return Check(name, "ok", f"this host is {here}, {local} repositories placed here")
