"""Configuration: frozen dataclasses and one :func:`load_config`.

Precedence: built-in defaults < TOML file < ``BORGHIVE_<SECTION>_<KEY>`` environment
variables < command-line flags (applied by the caller with :func:`dataclasses.replace`).
Unknown keys and wrong types are errors; every problem is collected into one
:class:`~borghive.errors.ConfigError`. Secrets are never values here, only ``*_file`` paths.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import socket
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from borghive.errors import ConfigError
from borghive.login.configfiles import CONFIG_ENV, DEFAULT_CONFIG, ENV_PREFIX
from borghive.login.configfiles import read_secret as read_secret  # re-exported for callers
from borghive.rules.names import path_problem

DEFAULT_CONFIG_PATH = Path(DEFAULT_CONFIG)

AccountsBackend = Literal["none", "ldap", "local"]


@dataclass(frozen=True)
class StoreConfig:
    """Where the database lives."""

    url: str = "sqlite:////var/lib/borghive/borghive.db"
    password_file: Path | None = None
    busy_timeout: float = 10.0
    connect_timeout: float = 5.0


@dataclass(frozen=True)
class ReposConfig:
    """The repository tree, the address clients use, and repository user allocation."""

    root: Path = Path("/repos")
    host: str = ""
    ssh_port: int = 22
    user_prefix: str = "r"
    user_length: int = 8
    uid_min: int = 200000
    uid_max: int = 299999
    gid: int = 200000
    group: str = "borgrepos"

    @property
    def public_host(self) -> str:
        """The configured host name, or this machine's name when none is set."""
        return self.host or socket.gethostname()


@dataclass(frozen=True)
class BorgConfig:
    """The borg binary that ``borg serve`` runs on this server."""

    path: Path = Path("/usr/bin/borg")
    umask: str = "0077"
    rrsync_path: Path = Path("/usr/bin/rrsync")


@dataclass(frozen=True)
class KeysConfig:
    """What SSH public keys are accepted."""

    rsa_min_bits: int = 3072


@dataclass(frozen=True)
class AccountsConfig:
    """Which backend provisions repository users' system accounts."""

    backend: AccountsBackend = "none"
    shell: str = "/bin/sh"


@dataclass(frozen=True)
class LdapConfig:
    """The LDAP directory that holds repository users (``accounts.backend = "ldap"``)."""

    url: str = "ldap://localhost"
    start_tls: bool = True
    ca_file: Path | None = None
    bind_dn: str = ""
    bind_password_file: Path | None = None
    base_dn: str = "dc=example,dc=org"
    users_dn: str = "ou=people,dc=example,dc=org"
    groups_dn: str = "ou=groups,dc=example,dc=org"
    user_object_class: str = "account"
    connect_timeout: float = 5.0
    operation_timeout: float = 10.0


SmtpSecurity = Literal["starttls", "tls", "none"]


@dataclass(frozen=True)
class AlertsConfig:
    """How alerts reach repository owners: SMTP, webhooks, Pushover; the quota warning."""

    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_security: SmtpSecurity = "none"
    smtp_user: str = ""
    smtp_password_file: Path | None = None
    smtp_ca_file: Path | None = None
    smtp_timeout: float = 30.0
    mail_from: str = ""
    pushover_url: str = "https://api.pushover.net/1/messages.json"
    pushover_token_file: Path | None = None
    webhook_timeout: float = 10.0
    webhook_secret_file: Path | None = None
    quota_warn_percent: int = 90


@dataclass(frozen=True)
class StatsConfig:
    """How ``borghive stats collect`` walks the repositories and how long points are kept."""

    keep_all_days: int = 90
    keep_weekly: bool = True
    time_limit: float = 300.0
    jobs: int = 0


@dataclass(frozen=True)
class Config:
    """The whole effective configuration; ``source`` says where it came from."""

    source: str = "<built-in defaults>"
    store: StoreConfig = field(default_factory=StoreConfig)
    repos: ReposConfig = field(default_factory=ReposConfig)
    borg: BorgConfig = field(default_factory=BorgConfig)
    keys: KeysConfig = field(default_factory=KeysConfig)
    accounts: AccountsConfig = field(default_factory=AccountsConfig)
    ldap: LdapConfig = field(default_factory=LdapConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    stats: StatsConfig = field(default_factory=StatsConfig)


SECTIONS: dict[str, type[Any]] = {
    "store": StoreConfig,
    "repos": ReposConfig,
    "borg": BorgConfig,
    "keys": KeysConfig,
    "accounts": AccountsConfig,
    "ldap": LdapConfig,
    "alerts": AlertsConfig,
    "stats": StatsConfig,
}

_POSIX_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_UMASK = re.compile(r"^0?[0-7]{3}$")
_URL_PASSWORD = re.compile(r"^[a-z0-9+]+://[^/@]*:[^/@]*@")


def resolve_config_path(explicit: Path | None, environ: Mapping[str, str]) -> tuple[Path, bool]:
    """Return the config file to read and whether it must exist.

    A path given on the command line or in ``BORGHIVE_CONFIG`` must exist; the default
    path may be missing, in which case the built-in defaults apply.
    """
    if explicit is not None:
        return explicit, True
    from_env = environ.get(CONFIG_ENV)
    if from_env:
        return Path(from_env), True
    return DEFAULT_CONFIG_PATH, False


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read, type-check and validate the configuration.

    ``path`` is the ``--config`` flag (None when not given); ``environ`` defaults to
    ``os.environ``. Raises :class:`ConfigError` listing every problem found.
    """
    environ = os.environ if environ is None else environ
    file_path, required = resolve_config_path(path, environ)
    raw: dict[str, Any] = {}
    source = "<built-in defaults>"
    try:
        with file_path.open("rb") as handle:
            raw = tomllib.load(handle)
        source = str(file_path)
    except FileNotFoundError as exc:
        if required:
            raise ConfigError(f"{file_path}: no such file") from exc
    except PermissionError as exc:
        raise ConfigError(f"{file_path}: permission denied") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"{file_path}: is a directory") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file_path}: not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file_path}: not valid TOML: not UTF-8 text") from exc
    except OSError as exc:
        raise ConfigError(f"{file_path}: cannot read: {exc.strerror}") from exc

    problems: list[str] = []
    sections: dict[str, Any] = {}
    for key in raw:
        if key not in SECTIONS:
            problems.append(f"{source}: {key}: unknown section")
    for name, cls in SECTIONS.items():
        table = raw.get(name, {})
        if not isinstance(table, dict):
            problems.append(f"{source}: {name}: expected a table")
            table = {}
        values = _section_from_table(cls, name, table, source, problems)
        values.update(_section_from_environ(cls, name, environ, problems))
        try:
            sections[name] = cls(**values)
        except TypeError as exc:  # pragma: no cover - guarded by the checks above
            problems.append(f"{source}: {name}: {exc}")
    # Values refused above fall back to their defaults here, so the semantic checks still
    # run and every problem is reported at once.
    config = Config(source=source, **sections)
    problems.extend(f"{source}: {problem}" for problem in validate(config))
    if problems:
        raise ConfigError("invalid configuration\n  " + "\n  ".join(problems))
    return config


def _section_from_table(
    cls: type[Any], section: str, table: dict[str, Any], source: str, problems: list[str]
) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        where = f"{source}: {section}.{key}"
        if key not in known:
            problems.append(f"{where}: unknown key")
            continue
        try:
            values[key] = _coerce(value, hints[key])
        except (ValueError, OverflowError) as exc:  # OverflowError: huge int for a float
            problems.append(f"{where}: {exc}")
    return values


def _section_from_environ(
    cls: type[Any], section: str, environ: Mapping[str, str], problems: list[str]
) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for item in dataclasses.fields(cls):
        variable = f"{ENV_PREFIX}{section}_{item.name}".upper()
        if variable not in environ:
            continue
        try:
            values[item.name] = _coerce_text(environ[variable], hints[item.name])
        except ValueError as exc:
            problems.append(f"environment {variable}: {exc}")
    return values


def _type_name(hint: Any) -> str:
    if get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(hint))
    if _is_optional(hint):
        return _type_name(_non_none(hint))
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        Path: "a path",
    }.get(hint, str(hint))


def _is_optional(hint: Any) -> bool:
    return get_origin(hint) in (typing.Union, types.UnionType) and type(None) in get_args(hint)


def _non_none(hint: Any) -> Any:
    return next(a for a in get_args(hint) if a is not type(None))


def _coerce(value: Any, hint: Any) -> Any:
    """Check a TOML value against a field's type; raise ValueError naming the expected type."""
    if _is_optional(hint):
        if value == "":
            return None
        return _coerce(value, _non_none(hint))
    if get_origin(hint) is Literal:
        if value in get_args(hint):
            return value
        raise ValueError(f"expected {_type_name(hint)}, got {value!r}")
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
    raise ValueError(f"expected {_type_name(hint)}, got {type(value).__name__} {value!r}")


def _coerce_text(text: str, hint: Any) -> Any:
    """Parse an environment variable's text for a field's type."""
    base = _non_none(hint) if _is_optional(hint) else hint
    if _is_optional(hint) and text == "":
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
    if not store.url.startswith(("sqlite://", "postgresql://", "postgres://")):
        problems.append("store.url: expected sqlite:///PATH or postgresql://HOST/DB")
    if _URL_PASSWORD.match(store.url):
        problems.append("store.url: contains a password; put it in store.password_file")
    if not (0 < store.busy_timeout < math.inf and 0 < store.connect_timeout < math.inf):
        problems.append("store: timeouts must be positive and finite")
    if not 1 <= repos.ssh_port <= 65535:
        problems.append("repos.ssh_port: must be between 1 and 65535")
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
    if config.keys.rsa_min_bits < 1024:
        problems.append("keys.rsa_min_bits: must be at least 1024")
    if not config.accounts.shell.startswith("/"):
        problems.append("accounts.shell: must be an absolute path")
    ldap = config.ldap
    if not ldap.url.startswith(("ldap://", "ldaps://")):
        problems.append("ldap.url: expected ldap://HOST[:PORT] or ldaps://HOST[:PORT]")
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
    return problems


def _alerts_problems(alerts: AlertsConfig) -> list[str]:
    problems: list[str] = []
    if not 1 <= alerts.smtp_port <= 65535:
        problems.append("alerts.smtp_port: must be between 1 and 65535")
    if not (0 < alerts.smtp_timeout < math.inf and 0 < alerts.webhook_timeout < math.inf):
        problems.append("alerts: timeouts must be positive and finite")
    if not alerts.pushover_url.startswith(("https://", "http://")):
        problems.append("alerts.pushover_url: expected an https:// URL")
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
    return problems


def config_as_dict(config: Config) -> dict[str, Any]:
    """The effective configuration as plain data for display.

    Secrets never appear: the configuration holds only the paths of secret files, and
    :func:`validate` refuses a password inside ``store.url``.
    """
    result: dict[str, Any] = {"source": config.source}
    for name in SECTIONS:
        section = getattr(config, name)
        values: dict[str, Any] = {}
        for item in dataclasses.fields(section):
            value = getattr(section, item.name)
            if isinstance(value, Path):
                value = str(value)
            values[item.name] = value
        if name == "repos":
            values["public_host"] = section.public_host
        result[name] = values
    return result
