"""``borghive maintain``: load every repository's schedule, plan (``plan.py``), and run
the due steps with at most ``maintenance.jobs`` borg processes at once.

Each repository's steps run one after the other in one worker, so a repository never has
two borg processes; the claim (a maintenance_run row) keeps two hosts, or two cron runs,
off the same repository, and the record read again after the claim tells whether another
one already did the step. Anything refused at run time (a session opened meanwhile, a
claim held elsewhere) is a skip, retried at the next run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from borghive.config import Config
from borghive.errors import BorghiveError, NotFoundError, RefusedError
from borghive.rules.schedule import in_window, parse_every, parse_window
from borghive.rules.times import aware, stored_time, utcnow
from borghive.service.history.deletion_load import holds
from borghive.service.hosts.identity import this_host
from borghive.service.maintenance.actions import MaintenanceReport
from borghive.service.maintenance.check import check_repository
from borghive.service.maintenance.compact import compact_repository
from borghive.service.maintenance.plan import (
    Defaults,
    Plan,
    RepositoryState,
    Skip,
    Step,
    plan_maintenance,
)
from borghive.sessions.procs import marked_processes
from borghive.store import raw_rows, rows
from borghive.store.models import Access, Repository, User, database


@dataclass(frozen=True)
class StepResult:
    """What became of one step: ``result`` ok, failed or skipped."""

    repository: str
    action: str
    result: str
    detail: str
    bytes_freed: int | None = None


@dataclass(frozen=True)
class MaintainReport:
    """One run of ``maintain``: the window and whether now is in it, the plan's steps and
    skips, and (unless a dry run or outside the window) each step's result."""

    now: dt.datetime
    window: str
    in_window: bool
    dry_run: bool
    planned: list[Step]
    skipped: list[Skip]
    not_due: int
    results: list[StepResult] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if r.result == "failed")


def defaults(config: Config) -> Defaults:
    """The [maintenance] periods (validated with the configuration)."""
    return Defaults(
        compact_every=parse_every(config.maintenance.compact_every),
        check_every=parse_every(config.maintenance.check_every),
    )


def load_states(
    *,
    sessions: set[int] | None = None,
    held: dict[int, str] | None = None,
    host: str | None = None,
) -> list[RepositoryState]:
    """Every repository's schedule state; ``sessions``: uids with a client session open
    (default: read from /proc); ``held``: why compaction waits, by repository id;
    ``host``: only the repositories living on that storage host (None: all)."""
    if sessions is None:
        sessions = {info.uid for info in marked_processes() if info.is_client}
    granted = Access.select(Access.repository).where(Access.mode == "append-only").distinct()
    append_only = {int(row[0]) for row in rows(granted)}
    query = (
        Repository.select(
            Repository.id,
            User.name,
            Repository.name,
            Repository.mode,
            Repository.purge_started,
            Repository.created,
            Repository.compact_every,
            Repository.check_every,
            Repository.last_compact,
            Repository.last_check,
            Repository.compact_append_only,
            Repository.uid_number,
        )
        .join(User)
        .order_by(Repository.id)
    )
    if host is not None:
        query = query.where(Repository.host == host)
    # Plain driver rows: peewee's per-value conversion costs more than the plan itself.
    held = held or {}
    return [_state(row, append_only, sessions, held) for row in raw_rows(query)]


def _state(
    row: tuple[Any, ...], append_only: set[int], sessions: set[int], held: dict[int, str]
) -> RepositoryState:
    (
        repo_id,
        owner,
        name,
        mode,
        purge,
        created,
        compact,
        check,
        compacted,
        checked,
        allowed,
        uid,
    ) = row
    return RepositoryState(
        id=repo_id,
        shown=f"{owner}/{name}",
        mode=mode,
        being_purged=purge is not None,
        created=stored_time(created),
        compact_every=compact,
        check_every=check,
        last_compact=stored_time(compacted),
        last_check=stored_time(checked),
        append_only=repo_id in append_only,
        compact_append_only=bool(allowed),
        session_open=uid in sessions,
        compact_hold=held.get(repo_id),
    )


def _run_step(config: Config, step: Step) -> StepResult:
    repo = (
        Repository.select(Repository, User)
        .join(User)
        .where(Repository.id == step.repository_id)
        .first()
    )
    if repo is None:
        return StepResult(step.repository, step.action, "skipped", "deleted meanwhile")
    column = "last_compact" if step.action == "compact" else "last_check"

    def still_due(fresh: Repository) -> bool:
        return bool(aware(getattr(fresh, column)) == step.last)

    run = compact_repository if step.action == "compact" else check_repository
    try:
        report: MaintenanceReport | None = run(config, repo, still_due=still_due)
    except (RefusedError, NotFoundError) as error:
        return StepResult(step.repository, step.action, "skipped", error.message)
    except BorghiveError as error:
        return StepResult(step.repository, step.action, "failed", error.message)
    if report is None:
        return StepResult(step.repository, step.action, "skipped", "done by another run")
    return StepResult(
        step.repository, step.action, report.result, report.detail, report.bytes_freed
    )


def _run_repository(config: Config, steps: list[Step]) -> list[StepResult]:
    """The steps of one repository in order, in a worker thread with its own connection."""
    try:
        return [_run_step(config, step) for step in steps]
    finally:
        if not database.obj.is_closed():
            database.obj.close()  # this thread's connection (peewee keeps one per thread)


def maintain(
    config: Config,
    *,
    dry_run: bool = False,
    now: dt.datetime | None = None,
    local_now: dt.datetime | None = None,
    on_result: Callable[[StepResult], None] | None = None,
    on_plan: Callable[[Plan], None] | None = None,
) -> MaintainReport:
    """Plan and (unless ``dry_run`` or outside the window) run what is due. ``now`` (aware
    UTC) and ``local_now`` (for the window) default to the clock; ``on_plan`` and
    ``on_result`` report progress. Raises StoreUnavailableError; failures of single steps
    are results, not exceptions."""
    now = now or aware(utcnow())
    local_now = local_now or dt.datetime.now().astimezone()
    window = parse_window(config.maintenance.window)
    inside = in_window(window, local_now)
    # From the stored history; a compaction that does run reads what is new first and is
    # refused then (a skip with the same reason).
    held = {repo_id: hold.reason() for repo_id, hold in holds(config, now).items()}
    # Each host maintains the repositories on its own disk.
    states = load_states(held=held, host=this_host(config))
    plan = plan_maintenance(states, defaults(config), now)
    report = MaintainReport(
        now=now,
        window=config.maintenance.window,
        in_window=inside,
        dry_run=dry_run,
        planned=list(plan.steps),
        skipped=list(plan.skipped),
        not_due=plan.not_due,
    )
    if on_plan is not None:
        on_plan(plan)
    if dry_run or not inside or not plan.steps:
        return report
    by_repository: dict[int, list[Step]] = {}
    for step in plan.steps:
        by_repository.setdefault(step.repository_id, []).append(step)
    with ThreadPoolExecutor(max_workers=config.maintenance.jobs) as pool:
        futures = [pool.submit(_run_repository, config, steps) for steps in by_repository.values()]
        for future in as_completed(futures):
            for result in future.result():
                report.results.append(result)
                if on_result is not None:
                    on_result(result)
    return report
