"""The store: peewee models on SQLite or PostgreSQL (``models.py``), opening it and mapping
driver failures (``db.py``), numbered migrations (``migrations.py``) and the queries that
several use cases share (``queries.py``). The login path never imports this package: it
reads the store through :mod:`borghive.login.query`.
"""

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
    write_transaction_within,
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
    "write_transaction_within",
]
