"""The node_exporter textfile export of repository statistics (Prometheus text format)."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from peewee import fn

from borghive.atomic import write_atomically
from borghive.config import Config
from borghive.errors import InvalidInputError
from borghive.rules.bounds import WALK_TIME_LIMIT
from borghive.rules.layout import repository_path
from borghive.rules.times import aware, stored_time
from borghive.store import raw_rows, rows
from borghive.store.models import BorgSession, Repository, SshKey, User
from borghive.store.queries import latest_statistics
from borghive.walker.pool import measure_all, worker_command

_METRICS = (
    ("borghive_repository_size_bytes", "Bytes the repository uses on disk (du), last collect."),
    ("borghive_repository_quota_bytes", "The repository's storage quota in bytes."),
    (
        "borghive_repository_alert_after_seconds",
        "The repository's alert period: no update for this long alerts (stale).",
    ),
    (
        "borghive_repository_last_update_timestamp_seconds",
        "When the repository was last written (newest index.N), Unix time.",
    ),
    (
        "borghive_repository_last_access_timestamp_seconds",
        "When the repository was last opened (its directory's mtime), Unix time.",
    ),
    ("borghive_repository_open", "1 while a client holds the repository's exclusive lock."),
    (
        "borghive_stats_collect_duration_seconds",
        "Seconds the last collect took to measure the repository.",
    ),
    ("borghive_repository_sessions", "Live borg sessions of the repository (the watch daemon's)."),
    (
        "borghive_repository_lock_age_seconds",
        "Seconds the repository's lock has been held (0 unlocked).",
    ),
    (
        "borghive_repository_last_check_timestamp_seconds",
        "When the repository was last checked (repo check, maintain), Unix time.",
    ),
    ("borghive_repository_last_check_ok", "1 when the last check passed, 0 when it failed."),
    (
        "borghive_repository_last_compact_timestamp_seconds",
        "When the repository was last compacted (repo compact, maintain), Unix time.",
    ),
    (
        "borghive_repository_last_compact_freed_bytes",
        "Bytes the last compaction freed on disk.",
    ),
    (
        "borghive_key_last_used_timestamp_seconds",
        "When a session was last opened with the SSH key, Unix time.",
    ),
    ("borghive_export_timestamp_seconds", "When this file was written, Unix time."),
)


@dataclass(frozen=True)
class ExportResult:
    path: str
    repositories: int
    samples: int
    unreachable: tuple[str, ...]


def escape_label(value: str) -> str:
    """A label value as the exposition format wants it: backslash, quote, newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render_metrics(
    samples: dict[str, list[tuple[dict[str, str], float]]],
) -> str:
    """The text of ``samples`` (metric name → [(labels, value)]), with HELP and TYPE."""
    lines: list[str] = []
    for name, help_text in _METRICS:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} gauge")
        for labels, value in samples.get(name, []):
            shown = ",".join(f'{key}="{escape_label(text)}"' for key, text in labels.items())
            lines.append(
                f"{name}{{{shown}}} {_number(value)}" if shown else f"{name} {_number(value)}"
            )
    return "\n".join(lines) + "\n"


def export_prometheus(
    config: Config,
    path: Path,
    *,
    time_limit: float = 5.0,
    jobs: int = 4,
    worker_prefix: Sequence[str] = (),
) -> ExportResult:
    """Write the latest statistics of every repository to ``path`` atomically (a temporary
    file in the same directory, then rename), for node_exporter's textfile collector.

    ``borghive_repository_open`` and the lock's age are looked up now (``lock.exclusive``,
    ``lock.roster`` and their mtime), in the killable workers with ``time_limit`` per
    repository; an unreachable one gets no open sample, and a lock age only from the watch
    daemon's open sessions. Sessions, checks, compactions and keys come from the store.
    Raises InvalidInputError when the directory cannot be written or ``time_limit`` is
    outside its bound.
    """
    if not WALK_TIME_LIMIT.holds(time_limit):
        raise InvalidInputError(f"the time limit must be {WALK_TIME_LIMIT.words}")
    latest = latest_statistics()
    repositories = rows(
        Repository.select(
            Repository.id,
            User.name,
            Repository.name,
            Repository.repo_user,
            Repository.quota,
            Repository.alert_after,
            Repository.last_update,
            Repository.last_access,
            Repository.last_check,
            Repository.last_check_ok,
            Repository.last_compact,
            Repository.last_bytes_freed,
        )
        .join(User)
        .order_by(User.name, Repository.name)
    )
    paths = {
        repository_path(config.repos.root, user, name): repo_id
        for repo_id, _, name, user, *_ in repositories
    }
    locked: dict[int, bool] = {}
    lock_since: dict[int, float | None] = {}
    unreachable: list[str] = []
    # since=inf: only the top level is read (the lock), the tree is never walked.
    for usage in measure_all(
        list(paths),
        jobs=jobs,
        limit=time_limit,
        since=math.inf,
        command=worker_command(worker_prefix),
    ):
        if usage.status == "unchanged":
            locked[paths[usage.path]] = usage.locked
            lock_since[paths[usage.path]] = usage.lock_since
        elif usage.status != "missing":
            unreachable.append(usage.path)
    samples: dict[str, list[tuple[dict[str, str], float]]] = {name: [] for name, _ in _METRICS}
    now = time.time()
    sessions = open_sessions()
    for (
        repo_id,
        owner,
        name,
        user,
        quota,
        after,
        last_update,
        last_access,
        *maintained,
    ) in repositories:
        labels = {"owner": owner, "repository": name, "repository_user": user}
        if repo_id in latest:
            point = latest[repo_id]
            samples["borghive_repository_size_bytes"].append((labels, point.bytes_used))
            if point.duration is not None:
                samples["borghive_stats_collect_duration_seconds"].append((labels, point.duration))
        if quota is not None:
            samples["borghive_repository_quota_bytes"].append((labels, quota))
        if after is not None:
            samples["borghive_repository_alert_after_seconds"].append((labels, after))
        for metric, when in (
            ("borghive_repository_last_update_timestamp_seconds", last_update),
            ("borghive_repository_last_access_timestamp_seconds", last_access),
        ):
            if when is not None:
                seconds = aware(when).timestamp()
                samples[metric].append((labels, seconds))
        if repo_id in locked:
            samples["borghive_repository_open"].append((labels, 1 if locked[repo_id] else 0))
        count, oldest_lock = sessions.get(repo_id, (0, None))
        samples["borghive_repository_sessions"].append((labels, count))
        age = _lock_age(now, lock_since, repo_id, oldest_lock)
        if age is not None:
            samples["borghive_repository_lock_age_seconds"].append((labels, age))
        _maintenance_samples(samples, labels, *maintained)
    samples["borghive_key_last_used_timestamp_seconds"] = key_samples()
    samples["borghive_export_timestamp_seconds"] = [({}, round(now, 3))]
    text = render_metrics(samples)
    _write_atomically(path, text)
    return ExportResult(
        path=str(path),
        repositories=len(repositories),
        samples=sum(len(values) for values in samples.values()),
        unreachable=tuple(unreachable),
    )


def open_sessions() -> dict[int, tuple[int, dt.datetime | None]]:
    """Open borg_session rows by repository: (how many, the oldest lock_since)."""
    query = (
        BorgSession.select(
            BorgSession.repository, fn.COUNT(BorgSession.id), fn.MIN(BorgSession.lock_since)
        )
        .where(BorgSession.ended.is_null())
        .group_by(BorgSession.repository)
    )
    return {repo_id: (count, stored_time(since)) for repo_id, count, since in raw_rows(query)}


def _lock_age(
    now: float, on_disk: dict[int, float | None], repo_id: int, session_lock: dt.datetime | None
) -> float | None:
    """The lock's age: from its files when this host read the directory (they are the
    truth for a repository here), else from the oldest open session that took it."""
    if repo_id in on_disk:
        since = on_disk[repo_id]
        return 0 if since is None else max(0, round(now - since))
    if session_lock is not None:
        return max(0, round(now - session_lock.timestamp()))
    return None


def _maintenance_samples(
    samples: dict[str, list[tuple[dict[str, str], float]]],
    labels: dict[str, str],
    last_check: dt.datetime | None,
    check_ok: bool | None,
    last_compact: dt.datetime | None,
    freed: int | None,
) -> None:
    if last_check is not None:
        samples["borghive_repository_last_check_timestamp_seconds"].append(
            (labels, aware(last_check).timestamp())
        )
        if check_ok is not None:
            samples["borghive_repository_last_check_ok"].append((labels, 1 if check_ok else 0))
    if last_compact is not None:
        samples["borghive_repository_last_compact_timestamp_seconds"].append(
            (labels, aware(last_compact).timestamp())
        )
        if freed is not None:
            samples["borghive_repository_last_compact_freed_bytes"].append((labels, freed))


def key_samples() -> list[tuple[dict[str, str], float]]:
    """``borghive_key_last_used_timestamp_seconds`` of every key used at least once."""
    query = (
        SshKey.select(User.name, SshKey.name, SshKey.last_used)
        .join(User)
        .where(SshKey.last_used.is_null(False))
        .order_by(User.name, SshKey.name)
    )
    return [
        ({"owner": owner, "key": name}, stored_time(used).timestamp())
        for owner, name, used in raw_rows(query)
    ]


def _write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` whole (borghive.atomic: the temporary name is not ``*.prom``, so
    node_exporter never reads a half-written file); a directory that cannot be written is
    the user's error."""
    try:
        write_atomically(path, text.encode("utf-8"), mode=0o644)
    except OSError as error:
        raise InvalidInputError(f"cannot write {path}: {error.strerror}") from None
