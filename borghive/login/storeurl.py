"""Store URLs, defined once: which SQLite file, or which PostgreSQL server, database and
role, and the libpq connection keywords built from them. Used by the store
(:mod:`borghive.store.db`, through psycopg2), the watch daemon's login snapshot keeper
(:mod:`borghive.watch.snapshot`) and ``authkeys`` (which opens only a SQLite file: the
store, or on PostgreSQL the login snapshot), so that they agree. No ORM here; urllib.parse
only where a URL is split (never on the login path).
"""

from __future__ import annotations

from borghive.errors import ConfigError
from borghive.login.configfiles import read_secret

# Not typing.TYPE_CHECKING: importing typing costs the login path milliseconds.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from pathlib import Path

# The schema version this code needs; store/migrations.py checks it is its latest.
SCHEMA_VERSION = 9
DEFAULT_PORT = 5432
DEFAULT_DATABASE = "borghive"


def sqlite_file(url: str) -> str | None:
    """The file of a ``sqlite:///relative`` or ``sqlite:////absolute`` URL, else None."""
    if not url.startswith("sqlite://"):
        return None
    rest = url[len("sqlite://") :]
    if not rest.startswith("/") or rest == "/":
        raise ConfigError(f"store.url: expected sqlite:///PATH, got {url!r}")
    return rest[1:]


def sqlite_path(url: str) -> Path | None:
    """:func:`sqlite_file` as a Path."""
    from pathlib import Path

    file = sqlite_file(url)
    return None if file is None else Path(file)


def is_postgres(url: str) -> bool:
    """Whether ``url`` names a PostgreSQL store."""
    return url.startswith(("postgresql://", "postgres://"))


def postgres_address(url: str) -> tuple[str | None, int, str, str | None]:
    """(host, port, database, user) of a ``postgresql://`` store URL. No host: libpq's
    default socket (None); no port: 5432; no database: borghive; no user: the login name
    (None). Raises ConfigError when it is not such a URL (:func:`borghive.rules.urls.
    parse_url`: a host name or address, a port from 1 to 65535, no spaces or control
    characters); the message never repeats the URL."""
    if not is_postgres(url):
        raise ConfigError("store.url: expected postgresql://[USER@]HOST[:PORT]/DATABASE")
    # Imported here: the login path imports this module but never splits a URL.
    from urllib.parse import unquote

    from borghive.rules.urls import POSTGRES_SCHEMES, UrlError, parse_url

    try:
        parts = parse_url(url, POSTGRES_SCHEMES, host_required=False)
    except UrlError as exc:
        raise ConfigError(f"store.url: {exc.reason}") from None
    return (
        parts.host or None,
        parts.port or DEFAULT_PORT,
        unquote(parts.path.lstrip("/")) or DEFAULT_DATABASE,
        unquote(parts.username) if parts.username else None,
    )


def connection_keywords(
    host: str | None,
    port: int | None,
    database: str | None,
    user: str | None,
    *,
    password_file: str | None,
    connect_timeout: float,
    application_name: str,
    readonly: bool = False,
) -> dict[str, str]:
    """libpq connection keywords ("Parameter Key Words" in libpq's manual) for the store:
    UTF-8, a bounded connect, the password read from its file. A missing host or user is
    left out, not empty, so libpq's defaults apply (local socket, the login name).
    Raises ConfigError when the password file cannot be read."""
    keywords = {
        "dbname": database or DEFAULT_DATABASE,
        "port": str(port or DEFAULT_PORT),
        "connect_timeout": str(max(1, int(connect_timeout))),
        "application_name": application_name,
        "client_encoding": "UTF8",
    }
    if readonly:
        keywords["options"] = "-c default_transaction_read_only=on"
    if host:
        keywords["host"] = host
    if user:
        keywords["user"] = user
    if password_file:
        keywords["password"] = read_secret(password_file, "store.password_file")
    return keywords


def describe(url: str) -> str:
    """The URL without user or password, fit for messages (also when it does not parse)."""
    if not is_postgres(url):
        return url
    from borghive.rules.urls import POSTGRES_SCHEMES, UrlError, parse_url, redact

    try:
        parts = parse_url(url, POSTGRES_SCHEMES, host_required=False)
    except UrlError:
        return ascii(redact(url)[:80])[1:-1] + " (invalid)"
    host = parts.host_port if parts.host else "localhost"
    return f"postgresql://{host}{parts.path}"
