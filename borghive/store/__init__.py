"""The store: peewee models on SQLite or PostgreSQL, and their migrations.

The names below load ``store/db.py`` (and peewee) on first use, so that importing
``borghive.login.storeurl`` on the login path stays cheap.
"""

from __future__ import annotations

# Not typing.TYPE_CHECKING: the login path imports this package and typing costs it.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    from borghive.login.storeurl import describe
    from borghive.store.db import (
        execute,
        execute_many,
        is_sqlite,
        open_store,
        raw_rows,
        rows,
        store_errors,
        write_transaction,
    )

__all__ = [
    "describe",
    "execute",
    "execute_many",
    "is_sqlite",
    "open_store",
    "raw_rows",
    "rows",
    "store_errors",
    "write_transaction",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from borghive.store import db

        return getattr(db, name)  # describe is re-exported by db from store/url.py
    raise AttributeError(f"module 'borghive.store' has no attribute {name!r}")
