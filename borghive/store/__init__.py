"""The store: peewee models on SQLite or PostgreSQL, and their migrations."""

from borghive.store.db import describe, execute, is_sqlite, open_store, rows, write_transaction

__all__ = ["describe", "execute", "is_sqlite", "open_store", "rows", "write_transaction"]
