"""Reading the collected statistics: per-repository summaries and size history."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from borghive.rules.times import aware, to_store, utcnow
from borghive.service.repositories.lifecycle import find_repository
from borghive.service.users.people import find_user
from borghive.store import rows
from borghive.store.models import Repository, Statistic, User
from borghive.store.queries import latest_statistics

CHANGE_DAYS = (1, 7, 30)
HISTORY_DAYS = 30


@dataclass(frozen=True)
class RepositoryStats:
    """A repository's latest size, its change over 1, 7 and 30 days, quota use and the
    age of its last backup. ``history``: the last size of each of the last 30 days that
    has a point (oldest first), for a sparkline."""

    owner: str
    name: str
    repo_user: str
    bytes_used: int | None
    apparent_bytes: int | None
    file_count: int | None
    collected: dt.datetime | None
    changes: dict[str, int | None]
    quota: int | None
    quota_used_percent: float | None
    last_update: dt.datetime | None
    backup_age_seconds: int | None
    alert_after: int | None
    stale: bool | None
    history: tuple[int, ...]


@dataclass(frozen=True)
class StatisticPoint:
    time: dt.datetime
    bytes_used: int
    apparent_bytes: int | None
    file_count: int
    segment_count: int | None


@dataclass(frozen=True)
class History:
    owner: str
    name: str
    points: tuple[StatisticPoint, ...]


def show_stats(reference: str | None = None, user: str | None = None) -> list[RepositoryStats]:
    """Summaries of one repository (``OWNER/NAME`` or repository user), one user's
    repositories, or all, by owner and name. Raises NotFoundError."""
    query = (
        Repository.select(
            Repository.id,
            User.name,
            Repository.name,
            Repository.repo_user,
            Repository.quota,
            Repository.alert_after,
            Repository.last_update,
        )
        .join(User)
        .order_by(User.name, Repository.name)
    )
    if reference is not None:
        query = query.where(Repository.id == find_repository(reference).id)
    elif user is not None:
        query = query.where(User.id == find_user(user).id)
    selected = rows(query)
    now = utcnow()
    window = now - dt.timedelta(days=max(CHANGE_DAYS) + 1)
    points: dict[int, list[tuple[dt.datetime, int, int | None, int]]] = defaultdict(list)
    ids = [row[0] for row in selected]
    for start in range(0, len(ids), 500):
        for repo_id, when, used, apparent, files in rows(
            Statistic.select(
                Statistic.repository,
                Statistic.time,
                Statistic.bytes_used,
                Statistic.apparent_bytes,
                Statistic.file_count,
            )
            .where(Statistic.repository.in_(ids[start : start + 500]) & (Statistic.time >= window))
            .order_by(Statistic.time, Statistic.id)
        ):
            points[repo_id].append((when, used, apparent, files))
    # The newest point before the window: the baseline of the longest change, and the
    # latest size of a repository not collected for a while.
    before = {
        repo_id: (to_store(point.time), point.bytes_used, point.apparent_bytes, point.file_count)
        for repo_id, point in latest_statistics(ids, before=window).items()
    }
    newest = latest_statistics(ids)
    result = []
    for repo_id, owner, name, repo_user, quota, alert_after, last_update in selected:
        series = ([before[repo_id]] if repo_id in before else []) + points.get(repo_id, [])
        latest = newest.get(repo_id)
        used = latest.bytes_used if latest else None
        age = int((now - last_update).total_seconds()) if last_update else None
        result.append(
            RepositoryStats(
                owner=owner,
                name=name,
                repo_user=repo_user,
                bytes_used=used,
                apparent_bytes=latest.apparent_bytes if latest else None,
                file_count=latest.file_count if latest else None,
                collected=latest.time if latest else None,
                changes={f"{days}d": _change(series, days) for days in CHANGE_DAYS},
                quota=quota,
                quota_used_percent=(
                    round(100.0 * used / quota, 1) if quota and used is not None else None
                ),
                last_update=aware(last_update),
                backup_age_seconds=age,
                alert_after=alert_after,
                stale=None if alert_after is None or age is None else age > alert_after,
                history=_daily(series, now),
            )
        )
    return result


def _change(series: list[tuple[dt.datetime, int, int | None, int]], days: int) -> int | None:
    """Latest size minus the size at the newest point at least ``days`` older than it."""
    if not series:
        return None
    latest_time, latest_size = series[-1][0], series[-1][1]
    horizon = latest_time - dt.timedelta(days=days)
    earlier = [size for when, size, _, _ in series if when <= horizon]
    return latest_size - earlier[-1] if earlier else None


def _daily(
    series: list[tuple[dt.datetime, int, int | None, int]], now: dt.datetime
) -> tuple[int, ...]:
    start = (now - dt.timedelta(days=HISTORY_DAYS)).date()
    by_day: dict[dt.date, int] = {}
    for when, size, _, _ in series:
        if when.date() > start:
            by_day[when.date()] = size
    return tuple(by_day[day] for day in sorted(by_day))


def history(reference: str, since: int | None = None) -> History:
    """Every stored point of a repository, oldest first; ``since`` (seconds) limits them
    to that recent period. Raises NotFoundError."""
    repo = find_repository(reference)
    query = Statistic.select().where(Statistic.repository == repo.id)
    if since is not None:
        query = query.where(Statistic.time >= utcnow() - dt.timedelta(seconds=since))
    points = tuple(
        StatisticPoint(
            time=aware(point.time),
            bytes_used=point.bytes_used,
            apparent_bytes=point.apparent_bytes,
            file_count=point.file_count,
            segment_count=point.segment_count,
        )
        for point in query.order_by(Statistic.time, Statistic.id)
    )
    return History(owner=repo.owner.name, name=repo.name, points=points)
