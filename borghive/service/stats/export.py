"""The node_exporter textfile export of repository statistics (Prometheus text format)."""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from borghive.config import Config
from borghive.errors import InvalidInputError
from borghive.rules.bounds import WALK_TIME_LIMIT
from borghive.rules.layout import repository_path
from borghive.rules.times import aware
from borghive.store import rows
from borghive.store.models import Repository, User
from borghive.store.queries import latest_statistics
from borghive.walker.pool import measure_all, worker_command

_METRICS = (
    ("borghive_repository_size_bytes", "Bytes the repository uses on disk (du), last collect."),
    ("borghive_repository_quota_bytes", "The repository's storage quota in bytes."),
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
            lines.append(f"{name}{{{shown}}} {_number(value)}")
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

    ``borghive_repository_open`` is looked up now (``lock.exclusive`` present), in the
    killable workers with ``time_limit`` per repository; an unreachable one gets no sample.
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
            Repository.last_update,
            Repository.last_access,
        )
        .join(User)
        .order_by(User.name, Repository.name)
    )
    paths = {
        repository_path(config.repos.root, user, name): repo_id
        for repo_id, _, name, user, *_ in repositories
    }
    locked: dict[int, bool] = {}
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
        elif usage.status != "missing":
            unreachable.append(usage.path)
    samples: dict[str, list[tuple[dict[str, str], float]]] = {name: [] for name, _ in _METRICS}
    for repo_id, owner, name, user, quota, last_update, last_access in repositories:
        labels = {"owner": owner, "repository": name, "repository_user": user}
        if repo_id in latest:
            point = latest[repo_id]
            samples["borghive_repository_size_bytes"].append((labels, point.bytes_used))
            if point.duration is not None:
                samples["borghive_stats_collect_duration_seconds"].append((labels, point.duration))
        if quota is not None:
            samples["borghive_repository_quota_bytes"].append((labels, quota))
        for metric, when in (
            ("borghive_repository_last_update_timestamp_seconds", last_update),
            ("borghive_repository_last_access_timestamp_seconds", last_access),
        ):
            if when is not None:
                seconds = aware(when).timestamp()
                samples[metric].append((labels, seconds))
        if repo_id in locked:
            samples["borghive_repository_open"].append((labels, 1 if locked[repo_id] else 0))
    text = render_metrics(samples)
    _write_atomically(path, text)
    return ExportResult(
        path=str(path),
        repositories=len(repositories),
        samples=sum(len(values) for values in samples.values()),
        unreachable=tuple(unreachable),
    )


def _write_atomically(path: Path, text: str) -> None:
    """Write beside ``path`` under a name node_exporter ignores (not ``*.prom``), then
    rename over it, so the collector never reads a half-written file."""
    directory = path.parent
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as error:
        raise InvalidInputError(f"cannot write {path}: {error.strerror}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
