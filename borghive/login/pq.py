"""The system libpq (``libpq.so.5``, Debian's libpq5) through ctypes' C module: just
enough to open a connection and run one parameterised statement, for the login path.

``import psycopg2`` costs ``borghive authkeys`` about 20 ms (it loads Python's ssl, re and
enum besides its own copy of libpq); ``_ctypes`` and the system libpq cost a fraction of
that. ctypes releases the GIL during every foreign call, so authkeys' watchdog thread
still runs while a call is blocked inside libpq.

Values go in and come out as text: parameters travel apart from the statement
(``PQexecParams``, never interpolated into it), the connection asks for UTF-8, and a
result value is a ``str``, an ``int`` in the columns the caller says are integers, or None
for NULL. Whatever fails raises :class:`PqError` with the first line of libpq's message,
which names no password. Where libpq.so.5 cannot be loaded, :func:`connect` falls back to
psycopg2 with the same connection keywords.
"""

from __future__ import annotations

import os

# Not typing.TYPE_CHECKING: importing typing costs the login path milliseconds.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

# ctypes' C module, not ctypes: the package's __init__ also imports struct and types and
# builds dozens of types this module does not use (~2.5 ms of this path, python -X
# importtime). What is used here (dlopen, dlsym, function pointers, three simple types)
# is what ctypes itself is made of. Without it, connect() falls back to psycopg2.
try:
    from _ctypes import FUNCFLAG_CDECL, CFuncPtr, _SimpleCData, dlopen, dlsym
except ImportError as exc:  # pragma: no cover - a Python without ctypes
    _UNAVAILABLE = f"_ctypes: {exc}"
else:
    _UNAVAILABLE = ""

    class _Pointer(_SimpleCData):  # type: ignore[type-arg] # ctypes.c_void_p
        _type_ = "P"

    class _Text(_SimpleCData):  # type: ignore[type-arg] # ctypes.c_char_p
        _type_ = "z"

    class _Int(_SimpleCData):  # type: ignore[type-arg] # ctypes.c_int
        _type_ = "i"

    class _Function(CFuncPtr):  # a C function; called without holding the GIL
        _flags_ = FUNCFLAG_CDECL
        _restype_ = _Int


# The soname, not ctypes.util.find_library: that one runs ldconfig in a subprocess.
LIBRARY = "libpq.so.5"
CONNECTION_OK = 0  # ConnStatusType
PGRES_TUPLES_OK = 2  # ExecStatusType

# name, result type, argument types (pointers, arrays of char * included, as "P":
# without declared types ctypes would cut 64-bit pointers down to C ints)
_PROTOTYPES = (
    ("PQconnectdbParams", "P", "PPi"),  # keywords, values, expand_dbname
    ("PQstatus", "i", "P"),
    ("PQerrorMessage", "z", "P"),
    ("PQfinish", None, "P"),
    # connection, statement, parameter count, types, values, lengths, formats, result format
    ("PQexecParams", "P", "PziPPPPi"),
    ("PQresultStatus", "i", "P"),
    ("PQresultErrorMessage", "z", "P"),
    ("PQntuples", "i", "P"),
    ("PQnfields", "i", "P"),
    ("PQgetvalue", "z", "Pii"),
    ("PQgetisnull", "i", "Pii"),
    ("PQclear", None, "P"),
)


class PqError(Exception):
    """libpq could not connect or run the statement; the message is libpq's first line."""


class Library:
    """A loaded libpq: one attribute per function of :data:`_PROTOTYPES`, called with
    ints (pointers), bytes or None (char *) and arrays made by :func:`_texts`."""

    PQconnectdbParams: Any
    PQstatus: Any
    PQerrorMessage: Any
    PQfinish: Any
    PQexecParams: Any
    PQresultStatus: Any
    PQresultErrorMessage: Any
    PQntuples: Any
    PQnfields: Any
    PQgetvalue: Any
    PQgetisnull: Any
    PQclear: Any

    def __init__(self, name: str) -> None:
        """Load ``name``; OSError when it (or ctypes) cannot be loaded."""
        if _UNAVAILABLE:
            raise OSError(_UNAVAILABLE)
        handle = dlopen(name, os.RTLD_NOW | os.RTLD_LOCAL)
        types: dict[str, Any] = {"P": _Pointer, "z": _Text, "i": _Int}
        for function, result, arguments in _PROTOTYPES:
            prototype = _Function(dlsym(handle, function))
            prototype.restype = None if result is None else types[result]
            prototype.argtypes = tuple(types[argument] for argument in arguments)
            setattr(self, function, prototype)


def open_library(name: str) -> Library:
    """``name`` loaded with the prototypes declared. Raises OSError when it cannot be."""
    return Library(name)


def _encoded(value: str, what: str) -> bytes:
    """UTF-8 for C; a NUL would silently cut the C string short, so it is refused."""
    data = value.encode()
    if b"\0" in data:
        raise PqError(f"{what} contains a NUL character")
    return data


def _message(raw: bytes | None) -> str:
    text = (raw or b"").decode("utf-8", "replace").strip()
    return text.splitlines()[0] if text else "no message from libpq"


def _integer(data: bytes) -> int:
    """Strictly decimal (int() alone would also take spaces, "_" and "+")."""
    digits = data[1:] if data[:1] == b"-" else data
    if not digits.isdigit():  # bytes: ASCII digits only
        raise PqError(f"expected an integer, got {data[:20].decode('utf-8', 'replace')!r}")
    return int(data)


def _texts(values: list[bytes | None]) -> Any:
    """A C array of char * (NUL-terminated strings; None for NULL)."""
    return (_Text * len(values))(*values)


class Connection:
    """An open libpq connection (autocommit: libpq has no implicit transaction)."""

    __slots__ = ("_handle", "_library")
    placeholders = ("$1", "$2")

    def __init__(self, library: Library, parameters: dict[str, str]) -> None:
        """Connect with these libpq keywords (``host``, ``port``, ``dbname``, ...; see
        "Parameter Key Words" in libpq's manual). Raises PqError when it fails."""
        self._library = library
        keywords: list[bytes | None] = [_encoded(key, "keyword") for key in parameters]
        values: list[bytes | None] = [_encoded(parameters[key], key) for key in parameters]
        # expand_dbname 0: dbname is a name, never parsed as a connection string
        handle = library.PQconnectdbParams(_texts([*keywords, None]), _texts([*values, None]), 0)
        if not handle:
            raise PqError("libpq could not allocate a connection")
        self._handle: int | None = handle
        if library.PQstatus(handle) != CONNECTION_OK:
            message = _message(library.PQerrorMessage(handle))
            self.close()
            raise PqError(message)

    def rows(
        self, statement: str, parameters: tuple[str, ...], integers: tuple[int, ...] = ()
    ) -> list[tuple[Any, ...]]:
        """The rows of ``statement`` with ``$1``, ``$2``, ... bound to ``parameters``: text
        or None, and int in the columns numbered in ``integers`` (decimal digits, as
        PostgreSQL prints integers; anything else raises PqError)."""
        library, handle = self._library, self._handle
        if handle is None:
            raise PqError("connection closed")
        values: list[bytes | None] = [_encoded(p, "query parameter") for p in parameters]
        result = library.PQexecParams(
            handle, _encoded(statement, "statement"), len(values), None, _texts(values),
            None, None, 0,
        )  # fmt: skip
        if not result:
            raise PqError(_message(library.PQerrorMessage(handle)))
        try:
            if library.PQresultStatus(result) != PGRES_TUPLES_OK:
                raise PqError(_message(library.PQresultErrorMessage(result)))
            value, is_null = library.PQgetvalue, library.PQgetisnull
            columns = range(library.PQnfields(result))
            rows = []
            for row in range(library.PQntuples(result)):
                cells: list[Any] = []
                for column in columns:
                    data = value(result, row, column)
                    # libpq gives "" for NULL: only an empty value needs asking which it is
                    if not data and is_null(result, row, column):
                        cells.append(None)
                    elif column in integers:
                        cells.append(_integer(data))
                    else:
                        cells.append(data.decode())
                rows.append(tuple(cells))
            return rows
        finally:
            library.PQclear(result)

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._handle is not None:
            self._library.PQfinish(self._handle)
            self._handle = None


class Psycopg2Connection:
    """The same through psycopg2, where libpq.so.5 cannot be loaded (slower to import)."""

    __slots__ = ("_connection",)
    placeholders = ("%s", "%s")

    def __init__(self, parameters: dict[str, str]) -> None:
        import psycopg2

        # keyword arguments: psycopg2 quotes each into the connection string it builds
        self._connection = psycopg2.connect(**parameters)
        self._connection.autocommit = True

    def rows(
        self, statement: str, parameters: tuple[str, ...], integers: tuple[int, ...] = ()
    ) -> list[tuple[Any, ...]]:
        """As :meth:`Connection.rows`; psycopg2 itself returns integers as int."""
        with self._connection.cursor() as cursor:
            cursor.execute(statement, parameters)
            return list(cursor.fetchall())

    def close(self) -> None:
        self._connection.close()


def connect(parameters: dict[str, str]) -> Connection | Psycopg2Connection:
    """A connection with these libpq keywords through :data:`LIBRARY`, or through psycopg2
    when that cannot be loaded. Raises PqError (or psycopg2's errors) when it fails."""
    try:
        loaded = open_library(LIBRARY)
    except OSError:
        return Psycopg2Connection(parameters)
    return Connection(loaded, parameters)
