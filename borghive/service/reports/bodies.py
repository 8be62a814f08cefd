"""A client report's log as read back from the store, whatever it holds.

The log is the client's own output. PostgreSQL keeps only valid UTF-8, but an SQLite
TEXT value may hold any bytes (a writer that stored bytes, a file copied in), and the
driver then fails the whole query. So on SQLite the column is read as bytes and decoded
here, invalid sequences replaced."""

from __future__ import annotations

from typing import Any

from borghive.store import is_sqlite
from borghive.store.models import ClientReport


def body_column(model: Any = ClientReport) -> Any:
    """The ``body`` column of ``model`` (ClientReport or an alias) for a select."""
    return model.body.cast("BLOB") if is_sqlite() else model.body


def body_text(value: bytes | memoryview | str | None) -> str:
    """A selected :func:`body_column` value as text (invalid UTF-8 as U+FFFD)."""
    if value is None:
        return ""
    if isinstance(value, memoryview):
        value = value.tobytes()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value
