"""Reading and checking configuration values: TOML values and environment text against
each field's type, then the semantic rules of a well-typed :class:`~borghive.config.Config`.

:mod:`borghive.config` declares the keys and puts a configuration together; this module
reads the TOML file and the values in it. Every function appends its problems
(``section.key: problem``) to a list or returns them, so the loader reports all at once.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args, get_origin

from borghive.config_checks import (
    borg_versions_problems,
    hosts_problems,
    maintenance_problems,
    path_table,
    pings_problems,
    quoted,
)
from borghive.errors import ConfigError
from borghive.login.configfiles import FileTooLargeError, NotRegularFileError, read_regular
from borghive.login.storeurl import is_postgres, postgres_address, sqlite_file
from borghive.rules.bounds import Bound
from borghive.rules.names import path_problem
from borghive.rules.urls import (
    HTTP_SCHEMES,
    LDAP_SCHEMES,
    POSTGRES_SCHEMES,
    UrlError,
    host_problem,
    parse_url,
    redact,
)

if TYPE_CHECKING:
    from borghive.config import AlertsConfig, Config

_POSIX_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_UMASK = re.compile(r"^0?[0-7]{3}$")


MAX_CONFIG_BYTES = 1 << 20  # 1 MiB: a configuration file is a few kilobytes


def read_toml(file_path: Path, required: bool) -> tuple[dict[str, Any], str]:
    """The tables of a TOML file and the source name problems cite (the path, or
    ``<built-in defaults>`` when a file that need not exist is missing).

    Only a regular file of at most :data:`MAX_CONFIG_BYTES` is read: it is opened without
    blocking (a FIFO with no writer, a terminal) and looked at before a byte is read, so a
    FIFO, a device such as /dev/zero or a directory is refused at once. Raises ConfigError,
    one message, for every way reading or parsing fails (nesting too deep for the parser
    and running out of memory included)."""
    try:
        data = _read_regular(file_path)
    except FileNotFoundError as exc:
        if required:
            raise ConfigError(f"{file_path}: no such file") from exc
        return {}, "<built-in defaults>"
    except PermissionError as exc:
        raise ConfigError(f"{file_path}: permission denied") from exc
    except OSError as exc:
        raise ConfigError(f"{file_path}: cannot read: {exc.strerror}") from exc
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file_path}: not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file_path}: not valid TOML: not UTF-8 text") from exc
    except RecursionError as exc:
        raise ConfigError(f"{file_path}: not valid TOML: nested too deeply") from exc
    except MemoryError as exc:
        raise ConfigError(f"{file_path}: not valid TOML: too large to parse") from exc
    return raw, str(file_path)


def _read_regular(file_path: Path) -> bytes:
    """The bytes of a regular file of at most MAX_CONFIG_BYTES. Raises ConfigError for
    anything else, OSError (FileNotFoundError, PermissionError) when it cannot be opened."""
    try:
        return read_regular(file_path, MAX_CONFIG_BYTES)
    except NotRegularFileError as exc:
        if exc.kind == "a directory":
            raise ConfigError(f"{file_path}: is a directory") from None
        raise ConfigError(
            f"{file_path}: not a regular file (a FIFO, socket or device); "
            "the configuration is read from a file only"
        ) from None
    except FileTooLargeError:
        raise ConfigError(f"{file_path}: larger than 1 MiB; not a configuration file") from None


def values_from_table(
    cls: type[Any], section: str, table: dict[str, Any], source: str, problems: list[str]
) -> dict[str, Any]:
    """The fields of dataclass ``cls`` that a TOML table sets, type-checked; unknown keys
    and wrong types are appended to ``problems`` and left out."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        where = f"{source}: {section}.{key}"
        if key not in known:
            problems.append(f"{where}: unknown key")
            continue
        if is_table(hints[key]):
            values[key] = path_table(value, where, problems)
            continue
        try:
            values[key] = _coerce(value, hints[key])
        except (ValueError, OverflowError) as exc:  # OverflowError: huge int for a float
            problems.append(f"{where}: {exc}")
    return values


def is_table(hint: Any) -> bool:
    """Whether a field is a TOML table of names to paths (``Mapping[str, Path]``, such as
    ``borg.versions``): its entries are checked one by one, and no environment variable
    sets it."""
    return get_origin(hint) is Mapping


def values_from_environ(
    cls: type[Any], variables: Mapping[str, str], environ: Mapping[str, str], problems: list[str]
) -> dict[str, Any]:
    """The fields of dataclass ``cls`` that the environment sets; ``variables`` maps each
    field's name to its variable's name. Unparsable text is appended to ``problems``."""
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for item in dataclasses.fields(cls):
        variable = variables[item.name]
        if variable not in environ or is_table(hints[item.name]):
            continue
        try:
            values[item.name] = _coerce_text(environ[variable], hints[item.name])
        except ValueError as exc:
            problems.append(f"environment {variable}: {exc}")
    return values


def type_name(hint: Any) -> str:
    """A field's type in words, as problems name it: "an integer", "one of 'a', 'b'"."""
    if get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(hint))
    if is_optional(hint):
        return type_name(_non_none(hint))
    if is_table(hint):
        return "a table of names to paths"
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        Path: "a path",
    }.get(hint, str(hint))


def is_optional(hint: Any) -> bool:
    """Whether a field may be unset (``X | None``; an empty string in TOML unsets it)."""
    return get_origin(hint) in (typing.Union, types.UnionType) and type(None) in get_args(hint)


def _non_none(hint: Any) -> Any:
    return next(a for a in get_args(hint) if a is not type(None))


def _coerce(value: Any, hint: Any) -> Any:
    """Check a TOML value against a field's type; raise ValueError naming the expected type."""
    if is_optional(hint):
        if value == "":
            return None
        return _coerce(value, _non_none(hint))
    if get_origin(hint) is Literal:
        if value in get_args(hint):
            return value
        raise ValueError(f"expected {type_name(hint)}, got {quoted(value)}")
    if hint is bool and isinstance(value, bool):
        return value
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is str and isinstance(value, str):
        return value
    if hint is Path and isinstance(value, str) and value:
        return Path(value)
    raise ValueError(f"expected {type_name(hint)}, got {type(value).__name__} {quoted(value)}")


def _coerce_text(text: str, hint: Any) -> Any:
    """Parse an environment variable's text for a field's type."""
    base = _non_none(hint) if is_optional(hint) else hint
    if is_optional(hint) and text == "":
        return None
    if base is bool:
        lowered = text.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ValueError(f"expected true or false, got {text!r}")
    if base is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"expected an integer, got {text!r}") from None
    if base is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {text!r}") from None
    return _coerce(text, hint)


def validate(config: Config) -> list[str]:
    """Return the semantic problems of a well-typed configuration (empty when valid)."""
    problems: list[str] = []
    store, repos = config.store, config.repos
    problems.extend(_store_url_problems(store.url))
    if not (0 < store.busy_timeout < math.inf and 0 < store.connect_timeout < math.inf):
        problems.append("store: timeouts must be positive and finite")
    if not 1 <= repos.ssh_port <= 65535:
        problems.append("repos.ssh_port: must be between 1 and 65535")
    if repos.host and (problem := host_problem(repos.host)):
        problems.append(
            f"repos.host: {problem}: it goes into clients' ssh:// URLs and borg init lines"
        )
    if not _POSIX_NAME.match(repos.user_prefix):
        problems.append("repos.user_prefix: must start with a lower-case letter, then a-z 0-9 _ -")
    if not len(repos.user_prefix) + 4 <= repos.user_length <= 32:
        problems.append("repos.user_length: must leave 4 random characters and be at most 32")
    if not 1000 <= repos.uid_min <= repos.uid_max <= 2**31 - 2:
        problems.append("repos.uid_min/uid_max: need 1000 <= uid_min <= uid_max < 2^31-1")
    if not 0 < repos.gid < 2**31 - 1:
        problems.append("repos.gid: must be a positive integer")
    if not _POSIX_NAME.match(repos.group):
        problems.append("repos.group: not a valid group name")
    if not _UMASK.match(config.borg.umask):
        problems.append("borg.umask: expected an octal umask such as 0077")
    for key, path in (
        ("repos.root", repos.root),
        ("borg.path", config.borg.path),
        ("borg.rrsync_path", config.borg.rrsync_path),
    ):
        if path_problem(str(path)):
            problems.append(
                f"{key}: must be an absolute path of letters, digits and . _ - + /"
                " (it goes into sshd's forced command)"
            )
    problems.extend(borg_versions_problems(config.borg.versions))
    if config.keys.rsa_min_bits < 1024:
        problems.append("keys.rsa_min_bits: must be at least 1024")
    if path_problem(config.accounts.shell):
        problems.append(
            "accounts.shell: must be a plain absolute path of letters, digits and . _ - + /"
            " (it becomes the repository users' login shell)"
        )
    ldap = config.ldap
    problems.extend(_ldap_url_problems(ldap.url))
    if not (0 < ldap.connect_timeout < math.inf and 0 < ldap.operation_timeout < math.inf):
        problems.append("ldap: timeouts must be positive and finite")
    problems.extend(_alerts_problems(config.alerts))
    stats = config.stats
    if stats.keep_all_days < 1:
        problems.append("stats.keep_all_days: must be at least 1")
    if not 0 < stats.time_limit < math.inf:
        problems.append("stats.time_limit: must be a positive number of seconds")
    if not 0 <= stats.jobs <= 256:
        problems.append("stats.jobs: must be between 0 (one per CPU, at most 8) and 256")
    if not config.watch.spool.is_absolute():
        problems.append("watch.spool: must be an absolute path")
    problems.extend(maintenance_problems(config.maintenance))
    problems.extend(pings_problems(config.pings))
    problems.extend(hosts_problems(config.hosts, config.repos))
    problems.extend(bound_problems(config, problems))
    return problems


def bound_problems(config: Config, reported: list[str]) -> list[str]:
    """The keys whose value is outside the :class:`~borghive.rules.bounds.Bound` in their
    field metadata (``range``), one problem each; a key a problem in ``reported`` names
    already is left out, so that each key is reported once."""
    problems: list[str] = []
    for section_field in dataclasses.fields(config):
        section = getattr(config, section_field.name)
        if not dataclasses.is_dataclass(section):
            continue
        for item in dataclasses.fields(section):
            bound = item.metadata.get("range")
            key = f"{section_field.name}.{item.name}"
            if not isinstance(bound, Bound) or _already_named(key, reported):
                continue
            value = getattr(section, item.name)
            if not bound.holds(value):
                problems.append(f"{key}: must be {bound.words}, got {value!r}")
    return problems


def _already_named(key: str, reported: list[str]) -> bool:
    """Whether a problem names ``key``: its head (before ``: ``) is the key, lists it
    (``repos.uid_min/uid_max``), or is its section with a word for it (``store: timeouts
    must be …`` names store.busy_timeout and store.connect_timeout)."""
    section, name = key.split(".", 1)
    for problem in reported:
        head, _, rest = problem.partition(": ")
        if head == section:
            if name.endswith("timeout") and rest.startswith("timeouts"):
                return True
        elif head.startswith(f"{section}.") and name in re.split(
            r"[/, ]+", head[len(section) + 1 :]
        ):
            return True
    return False


def _store_url_problems(url: str) -> list[str]:
    """``store.url`` as the store will open it: a SQLite file, or a PostgreSQL server."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return ["store.url: contains a control character (NUL, a line break, …)"]
    if url.startswith("sqlite:"):
        try:
            file = sqlite_file(url)
        except ConfigError as exc:
            return [exc.message.replace(repr(url), repr(redact(url)))]
        if file is None or file.endswith("/"):
            return ["store.url: expected sqlite:///PATH naming a file, not a directory"]
        return []
    if not is_postgres(url):
        return ["store.url: expected sqlite:///PATH or postgresql://HOST/DB"]
    try:
        postgres_address(url)
    except ConfigError as exc:
        return [exc.message]
    if parse_url(url, POSTGRES_SCHEMES, host_required=False).password is not None:
        return ["store.url: contains a password; put it in store.password_file"]
    return []


def _ldap_url_problems(url: str) -> list[str]:
    """``ldap.url`` as ldap3 will connect to it: a host (default localhost) and port."""
    if not url.startswith(("ldap://", "ldaps://")):
        return ["ldap.url: expected ldap://HOST[:PORT] or ldaps://HOST[:PORT]"]
    try:
        parts = parse_url(url, LDAP_SCHEMES, host_required=False)
    except UrlError as exc:
        return [f"ldap.url: {exc.reason}"]
    if parts.has_credentials:
        return ["ldap.url: contains a user or password; use ldap.bind_dn, bind_password_file"]
    if parts.path not in ("", "/") or parts.tail:
        return ["ldap.url: expected ldap://HOST[:PORT] without a path (see ldap.base_dn)"]
    return []


def _alerts_problems(alerts: AlertsConfig) -> list[str]:
    problems: list[str] = []
    if not 1 <= alerts.smtp_port <= 65535:
        problems.append("alerts.smtp_port: must be between 1 and 65535")
    if not (0 < alerts.smtp_timeout < math.inf and 0 < alerts.webhook_timeout < math.inf):
        problems.append("alerts: timeouts must be positive and finite")
    try:
        if parse_url(alerts.pushover_url, HTTP_SCHEMES).has_credentials:
            problems.append(
                "alerts.pushover_url: contains a user or password; the token goes in "
                "alerts.pushover_token_file"
            )
    except UrlError as exc:
        problems.append(f"alerts.pushover_url: {exc.reason}")
    if alerts.mail_from and (
        "@" not in alerts.mail_from or any(c in alerts.mail_from for c in "\r\n<>")
    ):
        problems.append("alerts.mail_from: expected one plain e-mail address")
    if bool(alerts.smtp_user) != (alerts.smtp_password_file is not None):
        problems.append("alerts.smtp_user, smtp_password_file: set both or neither")
    if (
        alerts.smtp_user
        and alerts.smtp_security == "none"
        and alerts.smtp_host not in ("localhost", "127.0.0.1", "::1")
    ):
        problems.append(
            'alerts.smtp_security: "none" would send the SMTP password unencrypted to '
            f'{alerts.smtp_host}; use "starttls" or "tls"'
        )
    if not 1 <= alerts.quota_warn_percent <= 99:
        problems.append("alerts.quota_warn_percent: must be between 1 and 99")
    if not 1 <= alerts.delete_warn_percent <= 100:
        problems.append("alerts.delete_warn_percent: must be between 1 and 100")
    return problems
