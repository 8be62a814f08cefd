"""``repo compact``: ``borg compact`` as the repository user, and the space it freed.

Since borg 1.2, prune and delete free nothing: compaction removes the segments they left
behind. It also removes what an append-only repository keeps for a rollback, so a
repository with an append-only grant is compacted only when its owner allowed it
(``repo set --compact-append-only yes``). Nor is a repository compacted while its deletion
alert is unacknowledged or within ``maintenance.delete_hold`` of a deleting transaction
(``hold.py``).
"""

from __future__ import annotations

from collections.abc import Callable

from borghive.config import Config
from borghive.errors import RefusedError
from borghive.rules.quantities import format_size
from borghive.rules.times import aware, utcnow
from borghive.service.maintenance.actions import (
    MaintenanceReport,
    Outcome,
    Target,
    perform,
    refuse_if_held,
)
from borghive.service.maintenance.hold import refuse_if_deletion_held
from borghive.service.maintenance.runner import BorgRun, allocated_size, run_borg
from borghive.service.repositories.borgs import borg_binary
from borghive.store.models import Access, Repository

# The trailer borg prints after a traceback ("Local Exception"): not the message.
_TRAILER = ("SSH_ORIGINAL_COMMAND:", "sys.argv:", "PID:", "Platform:", "Linux:", "Borg:")
LOCK_FAILED = ("Failed to create/acquire the lock", "LockTimeout", "lock.exclusive")


def append_only(repository: Repository, path_config_text: str | None = None) -> bool:
    """Whether the repository is append-only: a grant of that mode, or ``append_only = 1``
    in borg's repository config (``path_config_text``)."""
    granted = (
        Access.select()
        .where((Access.repository == repository.id) & (Access.mode == "append-only"))
        .exists()
    )
    configured = path_config_text is not None and any(
        line.replace(" ", "").lower() == "append_only=1" for line in path_config_text.splitlines()
    )
    return bool(granted or configured)


def refuse_append_only(place: Target) -> None:
    """Raise RefusedError when compaction would destroy what append-only keeps."""
    repo = place.repository
    try:
        text: str | None = (place.path / "config").read_text(errors="replace")[:65536]
    except OSError:
        text = None
    if repo.compact_append_only or not append_only(repo, text):
        return
    raise RefusedError(
        f"repository {place.shown}: not compacted, it is append-only: compaction deletes "
        "the segments an append-only repository keeps for rolling back to an earlier "
        "transaction",
        hint=f"allow it with 'borghive repo set {place.shown} --compact-append-only yes'",
    )


def lock_refusal(place: Target, run: BorgRun) -> None:
    """When borg failed on the lock, raise RefusedError naming who holds it now."""
    if run.returncode != 0 and any(mark in run.stderr for mark in LOCK_FAILED):
        refuse_if_held(place)
        raise RefusedError(f"repository {place.shown}: borg could not take the lock")


def last_line(run: BorgRun) -> str:
    """borg's last message line (stderr, else stdout), printable, at most 300 characters."""
    for text in (run.stderr, run.stdout):
        lines = [
            line.strip()
            for line in text.splitlines()
            if line.strip() and not line.strip().startswith(_TRAILER)
        ]
        if lines:
            return "".join(c if c.isprintable() else "?" for c in lines[-1])[:300]
    return f"borg exited with status {run.returncode}"


def _compact(config: Config) -> Callable[[Target], Outcome]:
    def body(place: Target) -> Outcome:
        refuse_if_held(place)  # a client's session first: it may still be writing
        refuse_if_deletion_held(config, place, aware(utcnow()))
        refuse_append_only(place)
        repo = place.repository
        before = allocated_size(place.path)
        run = run_borg(
            borg_binary(config, repo.borg_name),
            ["compact", str(place.path)],
            uid=repo.uid_number,
            gid=config.repos.gid,
            action="compact",
        )
        lock_refusal(place, run)
        if run.returncode != 0:
            return Outcome("failed", last_line(run), borg_seconds=run.seconds)
        freed = max(0, before - allocated_size(place.path))
        return Outcome("ok", f"freed {format_size(freed)}", freed, borg_seconds=run.seconds)

    return body


def compact_repository(
    config: Config,
    reference: str | Repository,
    *,
    still_due: Callable[[Repository], bool] | None = None,
) -> MaintenanceReport | None:
    """``borg compact`` the repository; the report's ``bytes_freed`` is the allocated size
    before minus after. Raises NotFoundError, RefusedError (held after a deletion,
    append-only, locked by a session, claimed); None only when ``still_due`` says another
    run did it."""
    return perform(config, reference, "compact", _compact(config), still_due=still_due)
