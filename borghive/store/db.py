"""Opening the store from ``store.url`` and mapping driver failures to domain errors.

SQLite runs in rollback-journal mode (not WAL) on purpose: a WAL reader must be able to
write the ``-shm`` file, whereas sshd's ``authkeys`` runs as a user that may only read the
database. Writers take the lock up front (``BEGIN IMMEDIATE``) and wait ``busy_timeout``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from peewee import (
    Database,
    InterfaceError,
    OperationalError,
    PostgresqlDatabase,
    SqliteDatabase,
)

from borghive.config import StoreConfig
from borghive.errors import ConfigError, StoreOutdatedError, StoreUnavailableError
from borghive.login.storeurl import connection_keywords, describe, postgres_address, sqlite_path
from borghive.store.models import database


def build_database(config: StoreConfig, *, readonly: bool = False) -> Database:
    """A peewee Database for ``config.url`` (not yet connected)."""
    db = _build_database(config, readonly=readonly)
    db.borghive_url = config.url  # type: ignore[attr-defined] # named by store_errors
    return db


def _build_database(config: StoreConfig, *, readonly: bool = False) -> Database:
    path = sqlite_path(config.url)
    if path is not None:
        timeout_ms = int(config.busy_timeout * 1000)
        pragmas = {"foreign_keys": 1, "busy_timeout": timeout_ms}
        if readonly:
            return SqliteDatabase(
                f"file:{path}?mode=ro", uri=True, pragmas=pragmas, timeout=config.busy_timeout
            )
        return SqliteDatabase(str(path), pragmas=pragmas, timeout=config.busy_timeout)
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        raise ConfigError(
            "store.url: PostgreSQL needs the psycopg2 driver",
            hint="pip install 'borghive[postgres]'",
        ) from None
    host, port, name, user = postgres_address(config.url)
    keywords = connection_keywords(
        host,
        port,
        name,
        user,
        password_file=None if config.password_file is None else str(config.password_file),
        connect_timeout=config.connect_timeout,
        application_name="borghive",
    )
    parameters: dict[str, Any] = dict(keywords)
    return PostgresqlDatabase(parameters.pop("dbname"), **parameters)


def execute(sql: str, params: tuple[Any, ...] = (), db: Database | None = None) -> Any:
    """Run raw SQL on ``db`` (default: the bound store) and return the cursor."""
    return (database.obj if db is None else db).execute_sql(sql, params)


def execute_many(sql: str, params: Sequence[Sequence[Any]]) -> None:
    """Run one statement for each parameter row on the bound store. ``sql`` marks its
    parameters ``{p}`` (the driver's placeholder is filled in). SQLite prepares it once
    (``executemany``); psycopg2's ``executemany`` would make one round trip per row, so
    PostgreSQL gets pages of statements (``execute_batch``)."""
    if not params:
        return
    db: Any = database.obj
    statement = sql.format(p=db.param)
    cursor = db.cursor()
    if isinstance(db, SqliteDatabase):
        cursor.executemany(statement, params)
        return
    from psycopg2.extras import execute_batch

    execute_batch(cursor, statement, params, page_size=500)


def raw_rows(query: Any) -> list[tuple[Any, ...]]:
    """A query's rows exactly as the driver returns them, without peewee's per-value
    conversion (SQLite timestamps stay text: see :func:`stored_time`). For big listings."""
    return list(database.obj.execute(query).fetchall())


def rows(query: Any) -> list[tuple[Any, ...]]:
    """A query's result as plain tuples (peewee's stubs type ``.tuples()`` as model rows)."""
    return list(query.tuples())


def is_sqlite(db: Database | None = None) -> bool:
    """Whether ``db`` (default: the bound store) is SQLite."""
    return isinstance(database.obj if db is None else db, SqliteDatabase)


@contextmanager
def write_transaction(db: Database | None = None) -> Iterator[None]:
    """One atomic write on ``db`` (default: the bound store). SQLite takes the write lock
    first (``BEGIN IMMEDIATE``), so concurrent writers queue on the busy timeout instead of
    failing on lock upgrade."""
    db = database.obj if db is None else db
    if isinstance(db, SqliteDatabase):
        with db.atomic(lock_type="IMMEDIATE"):
            yield
    else:
        with db.atomic():
            yield


@contextmanager
def write_transaction_within(seconds: float, db: Database | None = None) -> Iterator[None]:
    """:func:`write_transaction`, waiting at most about ``seconds`` for another writer's lock
    (SQLite's busy timeout; PostgreSQL's statement timeout, and its connect timeout when it
    must reconnect) instead of the configured waits, for a caller with a deadline. A wait
    that runs out raises the driver's OperationalError, as the configured one does."""
    db = database.obj if db is None else db
    milliseconds = max(1, int(seconds * 1000))
    if isinstance(db, SqliteDatabase):
        previous = execute("PRAGMA busy_timeout", db=db).fetchone()[0]
        execute(f"PRAGMA busy_timeout = {milliseconds}", db=db)
        try:
            with write_transaction(db):
                yield
        finally:
            if not db.is_closed():
                execute(f"PRAGMA busy_timeout = {int(previous)}", db=db)
        return
    configured = db.connect_params.get("connect_timeout")
    if db.is_closed() and configured is not None:
        # libpq counts whole seconds and treats less than 2 as 2.
        bounded = min(int(configured), max(2, int(seconds + 0.999)))
        db.connect_params["connect_timeout"] = str(bounded)
    try:
        with write_transaction(db):
            execute(f"SET LOCAL statement_timeout = {milliseconds}", db=db)
            yield
    finally:
        if configured is not None:
            db.connect_params["connect_timeout"] = configured


@contextmanager
def open_store(
    config: StoreConfig, *, readonly: bool = False, check_schema: bool = True, create: bool = False
) -> Iterator[Database]:
    """Connect, bind the models, check the schema version, and close on exit.

    ``create`` allows making a missing SQLite file (``borghive migrate``). Driver errors
    raised inside the block become :class:`StoreUnavailableError` (exit 75); a schema older
    or newer than this code raises :class:`StoreOutdatedError` (exit 78).
    """
    from borghive.store.migrations import LATEST_VERSION, current_version

    where = describe(config.url)
    path = sqlite_path(config.url)
    if path is not None and not create and not path.exists():
        raise StoreOutdatedError(
            f"store {where}: no database yet", hint="run 'borghive migrate' to create it"
        )
    if path is not None and create:
        try:
            path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailableError(
                f"store {where}: cannot create {path.parent}: {exc.strerror}"
            ) from None
    db = build_database(config, readonly=readonly)
    database.initialize(db)
    try:
        try:
            db.connect()
        except (OperationalError, InterfaceError, sqlite3.Error) as exc:
            raise StoreUnavailableError(f"store {where}: cannot connect: {_reason(exc)}") from None
        if check_schema:
            version = current_version(db)
            if version < LATEST_VERSION:
                raise StoreOutdatedError(
                    f"store {where}: schema version {version}, this borghive needs "
                    f"{LATEST_VERSION}",
                    hint="run 'borghive migrate'",
                )
            if version > LATEST_VERSION:
                raise StoreOutdatedError(
                    f"store {where}: schema version {version} is newer than this borghive "
                    f"({LATEST_VERSION})",
                    hint="upgrade borghive",
                )
        yield db
    except (OperationalError, InterfaceError) as exc:
        raise driver_error(config.url, exc) from None
    finally:
        if not db.is_closed():
            db.close()


@contextmanager
def store_errors() -> Iterator[None]:
    """Driver failures inside the block as StoreUnavailableError (exit 75), for work done
    outside :func:`open_store`'s block, e.g. in a daemon's worker thread."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        url = getattr(database.obj, "borghive_url", "store")
        raise driver_error(url, exc) from None


# SQLite's SQLITE_FULL (Python 3.11 sets sqlite_errorcode) and PostgreSQL's disk_full
# SQLSTATE; the texts for drivers and wrappers that keep only the message.
_SQLITE_FULL = 13
_PG_DISK_FULL = "53100"
_DISK_FULL_TEXTS = ("database or disk is full", "No space left on device")


def disk_full(exc: BaseException) -> str | None:
    """The driver's words when ``exc`` or an exception behind it says the disk is full, else
    None. SQLite ends a transaction itself on SQLITE_FULL, so peewee's rollback then fails
    with "cannot rollback - no transaction is active", and that error is the one raised: the
    full disk is in its context. peewee's wrappers keep the driver's error as first argument."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
        wrapped = [a for a in current.args[:1] if isinstance(a, BaseException)]
        if wrapped:  # judge the driver's own error, and report its words
            pending += wrapped
            continue
        text = _reason(current)
        if (
            getattr(current, "sqlite_errorcode", None) == _SQLITE_FULL
            or getattr(current, "pgcode", None) == _PG_DISK_FULL
            or any(words in text for words in _DISK_FULL_TEXTS)
        ):
            return text
    return None


def driver_error(url: str, exc: BaseException) -> StoreUnavailableError:
    """The domain error for a driver failure on the store at ``url``: a full disk is named
    as such (with where to free space), anything else by the driver's first line."""
    where = describe(url)
    full = disk_full(exc)
    if full is None:
        return StoreUnavailableError(f"store {where}: {_reason(exc)}")
    path = sqlite_path(url)
    place = f"on the file system of {path.parent}" if path is not None else "on the server"
    return StoreUnavailableError(
        f"store {where}: the disk is full ({full})",
        hint=f"free space {place} and run the command again",
    )


def _reason(exc: BaseException) -> str:
    """The first line of a driver message; DSNs with credentials are never part of it."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
