"""``repo check``: ``borg check --repository-only`` as the repository user (no key needed),
and which segments it found damaged."""

from __future__ import annotations

from collections.abc import Callable

from borghive.config import Config
from borghive.service.maintenance.actions import (
    MaintenanceReport,
    Outcome,
    Target,
    perform,
    refuse_if_held,
)
from borghive.service.maintenance.compact import last_line, lock_refusal
from borghive.service.maintenance.damage import parse_check_output
from borghive.service.maintenance.runner import run_borg
from borghive.service.repositories.borgs import borg_binary
from borghive.store.models import Repository


def _check(config: Config) -> Callable[[Target], Outcome]:
    def body(place: Target) -> Outcome:
        refuse_if_held(place)
        repo = place.repository
        run = run_borg(
            borg_binary(config, repo.borg_name),
            ["check", "--repository-only", str(place.path)],
            uid=repo.uid_number,
            gid=config.repos.gid,
            action="check",
        )
        lock_refusal(place, run)
        if run.returncode == 0:
            return Outcome("ok", "no damage found", borg_seconds=run.seconds)
        findings = parse_check_output(run.stderr + "\n" + run.stdout)
        detail = findings.summary() if findings.problems else last_line(run)
        return Outcome("failed", detail, segments=findings.segments, borg_seconds=run.seconds)

    return body


def check_repository(
    config: Config,
    reference: str | Repository,
    *,
    still_due: Callable[[Repository], bool] | None = None,
) -> MaintenanceReport | None:
    """Check the repository's segments and index. A damaged repository is a report with
    result ``failed`` naming the segments, not an exception. Raises NotFoundError,
    RefusedError (locked by a session, claimed); None only when ``still_due`` says
    another run did it."""
    return perform(config, reference, "check", _check(config), still_due=still_due)
