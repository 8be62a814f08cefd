"""The store's time convention, defined once: timestamps are kept as naive UTC datetimes
on both back ends, and shown to people and scripts as aware UTC datetimes.

- :func:`utcnow` and :func:`from_epoch` make store values (naive UTC);
- :func:`to_store` turns any aware datetime into one;
- :func:`aware` and :func:`stored_time` read store values back (peewee gives datetimes;
  a plain driver row from SQLite gives ISO text);
- :func:`later` is the one rule by which last access and last update move: forward only.
"""

from __future__ import annotations

import datetime as dt
from typing import overload


def utcnow() -> dt.datetime:
    """Now, as the store keeps it (naive UTC)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def from_epoch(seconds: float) -> dt.datetime:
    """A POSIX time (seconds since the epoch, e.g. a file's mtime) as a store value."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).replace(tzinfo=None)


def to_store(value: dt.datetime) -> dt.datetime:
    """A datetime as a store value: aware ones converted to UTC, naive ones taken as UTC."""
    if value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


@overload
def aware(value: dt.datetime) -> dt.datetime: ...
@overload
def aware(value: None) -> None: ...
def aware(value: dt.datetime | None) -> dt.datetime | None:
    """A store value as an aware UTC datetime (None stays None)."""
    return None if value is None else value.replace(tzinfo=dt.UTC)


@overload
def stored_time(value: dt.datetime | str) -> dt.datetime: ...
@overload
def stored_time(value: None) -> None: ...
def stored_time(value: dt.datetime | str | None) -> dt.datetime | None:
    """A timestamp as a plain driver row gives it (a datetime from PostgreSQL, ISO text
    from SQLite) as an aware UTC datetime; None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC)


def later(stored: dt.datetime | None, observed: dt.datetime | None) -> bool:
    """Whether ``observed`` moves a last access or last update time that is ``stored``:
    only forward, so an old observation (a rescan, a late event) never moves it back.
    Both are store values; ``observed`` None moves nothing."""
    return observed is not None and (stored is None or observed > stored)
