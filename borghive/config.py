"""Configuration: the frozen dataclasses of every section and key.

Precedence: built-in defaults < TOML file < ``BORGHIVE_<SECTION>_<KEY>`` environment
variables < command-line flags (applied by the caller with :func:`dataclasses.replace`).
Unknown keys and wrong types are errors; every problem is collected into one
:class:`~borghive.errors.ConfigError`. Secrets are never values here, only ``*_file`` paths.

Every key is a ``field`` with :func:`about` as its metadata: a help text and, where
:func:`~borghive.config_parse.validate` enforces them, its bounds in words.
``scripts/reference`` builds docs/reference/configuration.md from these declarations.
Loading a file (:func:`borghive.config_load.load_config`) is in :mod:`borghive.config_load`;
reading values (type checks, environment text) and validating them in
:mod:`borghive.config_parse`.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from borghive.login.configfiles import ENV_PREFIX
from borghive.rules import bounds
from borghive.rules.bounds import Bound

AccountsBackend = Literal["none", "ldap", "local"]
SmtpSecurity = Literal["starttls", "tls", "none"]

# The bounds validate() enforces, in the words the reference uses; numbers carry their
# Bound (rules/bounds.py), which the loader checks and the reference states.
_SAFE_PATH = "absolute; letters, digits and . _ - + / only"
_LOWER_NAME = "a lower-case letter, then a-z 0-9 _ -"
_BORG_NAMES = (
    "names of 1 to 32 characters a-z 0-9 . _ -, starting with a letter or digit; paths "
    + _SAFE_PATH
)


def _no_versions() -> Mapping[str, Path]:
    return MappingProxyType({})


def about(help: str, bounds: str | Bound = "", also: str = "") -> dict[str, object]:
    """A configuration key's metadata: a help text for the reference and, when the loader
    limits the value beyond its type, those limits: in words, or a number's
    :class:`~borghive.rules.bounds.Bound` (kept as ``range``, stated in its words, ``also``
    appended for what relates it to another key)."""
    if isinstance(bounds, Bound):
        words = bounds.words + (f", {also}" if also else "")
        return {"help": help, "bounds": words, "range": bounds}
    return {"help": help, "bounds": bounds, "range": None}


def environment_variable(section: str, key: str) -> str:
    """The environment variable that overrides ``section.key``: BORGHIVE_SECTION_KEY."""
    return f"{ENV_PREFIX}{section}_{key}".upper()


@dataclass(frozen=True)
class StoreConfig:
    """Where the database lives."""

    url: str = field(
        default="sqlite:////var/lib/borghive/borghive.db",
        metadata=about(
            "Where the store is: sqlite:////ABSOLUTE/PATH (four slashes) or "
            "postgresql://USER@HOST:PORT/DATABASE.",
            "sqlite:///PATH naming a file, or postgresql:// (postgres://) with a host name or "
            "address and a port from 1 to 65535; no password, spaces or control characters",
        ),
    )
    password_file: Path | None = field(
        default=None, metadata=about("PostgreSQL password: the first line of this file.")
    )
    busy_timeout: float = field(
        default=10.0,
        metadata=about("Seconds a SQLite writer waits for another writer's lock.", bounds.TIMEOUT),
    )
    connect_timeout: float = field(
        default=5.0,
        metadata=about(
            "Seconds to connect to PostgreSQL, then exit 75 (unavailable).", bounds.TIMEOUT
        ),
    )


@dataclass(frozen=True)
class ReposConfig:
    """The repository tree, the address clients use, and repository user allocation."""

    root: Path = field(
        default=Path("/repos"),
        metadata=about("The repository tree: ROOT/REPOSITORY-USER/REPOSITORY-NAME.", _SAFE_PATH),
    )
    host: str = field(
        default="",
        metadata=about(
            "Host name in client URLs (empty: this machine's host name).",
            "a DNS name, an IPv4 address or an IPv6 address in [ ]; no spaces",
        ),
    )
    ssh_port: int = field(
        default=22, metadata=about("SSH port in client URLs (sshd's Port, if not 22).", bounds.PORT)
    )
    user_prefix: str = field(
        default="r", metadata=about("Repository user names start with this prefix …", _LOWER_NAME)
    )
    user_length: int = field(
        default=8,
        metadata=about(
            "… then random a-z 0-9 up to this length.",
            bounds.USER_LENGTH,
            "at least user_prefix + 4",
        ),
    )
    uid_min: int = field(
        default=200000,
        metadata=about("Smallest uidNumber of a repository user.", bounds.UID, "at most uid_max"),
    )
    uid_max: int = field(
        default=299999,
        metadata=about("Largest uidNumber of a repository user.", bounds.UID, "at least uid_min"),
    )
    gid: int = field(
        default=200000,
        metadata=about("gidNumber of the repository users' primary group.", bounds.ID_NUMBER),
    )
    group: str = field(
        default="borgrepos",
        metadata=about("Name of that group (sshd_config's Match Group).", _LOWER_NAME),
    )

    url_host: str = field(
        default="",
        metadata=about(
            "Per-repository host name in client URLs, with {user} for the repository user "
            '(e.g. "{user}.repo.example.org"): a repository that moves to another storage '
            "host then needs a DNS change, not a client change (empty: the storage host's "
            "name).",
            "empty, or a DNS name with {user} in it",
        ),
    )

    @property
    def public_host(self) -> str:
        """The configured host name, or this machine's name when none is set: also the
        name of this storage host in the store (``borghive host list``)."""
        return self.host or socket.gethostname()


@dataclass(frozen=True)
class BorgConfig:
    """The borg binaries that ``borg serve`` runs on this server."""

    path: Path = field(
        default=Path("/usr/bin/borg"),
        metadata=about(
            "The borg that sshd's forced command runs (borg serve), unless a repository is "
            "set to one of borg.versions.",
            _SAFE_PATH,
        ),
    )
    versions: Mapping[str, Path] = field(
        default_factory=_no_versions,
        metadata=about(
            'Other borg binaries by name, a table ([borg.versions], e.g. "1.4" = '
            '"/opt/borg-1.4/bin/borg"): repo create/set --borg NAME serves a repository '
            "with one of them.",
            _BORG_NAMES,
        ),
    )
    umask: str = field(
        default="0077", metadata=about("borg serve --umask.", "octal: 3 digits, optional leading 0")
    )
    rrsync_path: Path = field(
        default=Path("/usr/bin/rrsync"),
        metadata=about("rrsync for repositories in import and export mode.", _SAFE_PATH),
    )


@dataclass(frozen=True)
class KeysConfig:
    """What SSH public keys are accepted."""

    rsa_min_bits: int = field(
        default=3072,
        metadata=about("Smallest RSA key (bits) that key add accepts.", bounds.RSA_MIN_BITS),
    )


@dataclass(frozen=True)
class AccountsConfig:
    """Which backend provisions repository users' system accounts."""

    backend: AccountsBackend = field(
        default="none",
        metadata=about(
            "Who creates repository users' system accounts: ldap (the [ldap] directory), "
            "local (useradd) or none (the admin does; borghive only records them)."
        ),
    )
    shell: str = field(
        default="/bin/sh",
        metadata=about(
            "Repository users' login shell: sshd runs the forced command through it, so a "
            "real shell, not nologin.",
            "absolute path of letters, digits and . _ - + /",
        ),
    )


@dataclass(frozen=True)
class LdapConfig:
    """The LDAP directory that holds repository users (``accounts.backend = "ldap"``)."""

    url: str = field(
        default="ldap://localhost",
        metadata=about(
            "The directory server: ldap://HOST[:PORT] (see start_tls) or ldaps://HOST[:PORT].",
            "ldap:// or ldaps://, a port from 1 to 65535, no path or password",
        ),
    )
    start_tls: bool = field(default=True, metadata=about("Use StartTLS on an ldap:// URL."))
    ca_file: Path | None = field(
        default=None,
        metadata=about("CA certificate (PEM) of the directory server (unset: the system's CAs)."),
    )
    bind_dn: str = field(
        default="",
        metadata=about("DN borghive binds as to write repository users and their group."),
    )
    bind_password_file: Path | None = field(
        default=None, metadata=about("bind_dn's password: first line of this file.")
    )
    base_dn: str = field(default="dc=example,dc=org", metadata=about("The directory's base DN."))
    users_dn: str = field(
        default="ou=people,dc=example,dc=org", metadata=about("Where repository user entries go.")
    )
    groups_dn: str = field(
        default="ou=groups,dc=example,dc=org", metadata=about("Where their group's entry goes.")
    )
    user_object_class: str = field(
        default="account",
        metadata=about("Structural object class of repository user entries."),
    )
    connect_timeout: float = field(
        default=5.0, metadata=about("Seconds to connect to the directory.", bounds.TIMEOUT)
    )
    operation_timeout: float = field(
        default=10.0, metadata=about("Seconds one LDAP operation may take.", bounds.TIMEOUT)
    )


@dataclass(frozen=True)
class AlertsConfig:
    """How alerts reach repository owners: SMTP, webhooks, Pushover; the quota warning."""

    smtp_host: str = field(default="localhost", metadata=about("SMTP server for e-mail alerts."))
    smtp_port: int = field(default=25, metadata=about("The SMTP server's port.", bounds.PORT))
    smtp_security: SmtpSecurity = field(
        default="none",
        metadata=about(
            "starttls, tls (implicit TLS, e.g. port 465) or none.",
            "none with smtp_user only to localhost, 127.0.0.1 or ::1",
        ),
    )
    smtp_user: str = field(
        default="",
        metadata=about("SMTP login name.", "set both or neither with smtp_password_file"),
    )
    smtp_password_file: Path | None = field(
        default=None, metadata=about("SMTP password: first line of this file.")
    )
    smtp_ca_file: Path | None = field(
        default=None,
        metadata=about("CA certificates (PEM) of the SMTP server (unset: the system's)."),
    )
    smtp_timeout: float = field(
        default=30.0,
        metadata=about("Seconds to connect to and talk with the SMTP server.", bounds.TIMEOUT),
    )
    mail_from: str = field(
        default="",
        metadata=about(
            "Sender address (empty: borghive@ and this host's fully qualified name).",
            "one address with @, no < > or line breaks",
        ),
    )
    pushover_url: str = field(
        default="https://api.pushover.net/1/messages.json",
        metadata=about(
            "Pushover's message API (or a compatible server; private and loopback hosts "
            "are allowed).",
            "http:// or https://, a port from 1 to 65535, no password",
        ),
    )
    pushover_token_file: Path | None = field(
        default=None, metadata=about("Pushover application token: first line of this file.")
    )
    webhook_timeout: float = field(
        default=10.0,
        metadata=about("Seconds a webhook or Pushover request may take.", bounds.TIMEOUT),
    )
    webhook_secret_file: Path | None = field(
        default=None,
        metadata=about("Webhook signing key (X-Borghive-Signature): first line of this file."),
    )
    quota_warn_percent: int = field(
        default=90,
        metadata=about(
            "Warn at this share of the quota (%), again at 100.", bounds.QUOTA_WARN_PERCENT
        ),
    )
    delete_warn_percent: int = field(
        default=10,
        metadata=about(
            "Alert (deletion) when one transaction deletes more than this share (%) of the "
            "repository's live objects (an estimate from its history).",
            bounds.DELETE_WARN_PERCENT,
        ),
    )


@dataclass(frozen=True)
class StatsConfig:
    """How ``borghive stats collect`` walks the repositories and how long points are kept."""

    keep_all_days: int = field(
        default=90,
        metadata=about(
            "Keep every statistics point this many days, then thin out.", bounds.KEEP_ALL_DAYS
        ),
    )
    keep_weekly: bool = field(
        default=True, metadata=about("Past keep_all_days keep one point per week (false: none).")
    )
    time_limit: float = field(
        default=300.0,
        metadata=about(
            "Seconds one repository's walk may take; then it is reported and skipped.",
            bounds.WALK_TIME_LIMIT,
        ),
    )
    jobs: int = field(
        default=0,
        metadata=about(
            "Repositories walked at once, one process each (0: one per CPU, at most 8), never "
            "more than there are repositories.",
            bounds.JOBS,
        ),
    )


@dataclass(frozen=True)
class WatchConfig:
    """What ``borghive watch`` keeps on disk: the events the store could not take at shutdown."""

    spool: Path = field(
        default=Path("/var/lib/borghive/watch.spool"),
        metadata=about("Events not written at shutdown, replayed at start.", "absolute path"),
    )
    sessions: bool = field(
        default=True,
        metadata=about(
            "Record each borg session: its key, client address, lock and end (false: off)."
        ),
    )


@dataclass(frozen=True)
class MaintenanceConfig:
    """What ``borghive maintain`` and the maintenance commands do by default."""

    compact_every: str = field(
        default="7d",
        metadata=about(
            "Compact each repository this often (repo set --compact-every overrides).",
            "a duration (30m, 12h, 7d, 2w) or never",
        ),
    )
    check_every: str = field(
        default="30d",
        metadata=about(
            "Check each repository's segments this often (repo set --check-every overrides).",
            "a duration (30m, 12h, 7d, 2w) or never",
        ),
    )
    window: str = field(
        default="",
        metadata=about(
            "Hours in which maintain starts borg, local time (empty: any time).",
            "HH:MM-HH:MM, may wrap past midnight",
        ),
    )
    jobs: int = field(
        default=2,
        metadata=about("borg processes maintain runs at once.", bounds.MAINTENANCE_JOBS),
    )
    lock_alert_after: str = field(
        default="6h",
        metadata=about(
            "Alert (lock-stuck) when one session holds a repository's lock this long.",
            "a duration (30m, 12h, 7d, 2w)",
        ),
    )
    delete_hold: str = field(
        default="14d",
        metadata=about(
            "Compact no repository for this long after a transaction that deleted objects "
            "(and never while its deletion alert is unacknowledged).",
            "a duration longer than zero (1d, 2w)",
        ),
    )


@dataclass(frozen=True)
class PingsConfig:
    """``borghive pings``: the Healthchecks-compatible endpoint clients report results to."""

    listen: str = field(
        default="127.0.0.1",
        metadata=about(
            "Address the ping daemon listens on (behind a reverse proxy for TLS).",
            "an IPv4 or IPv6 address",
        ),
    )
    port: int = field(default=8787, metadata=about("Port it listens on.", bounds.PORT))
    public_url: str = field(
        default="",
        metadata=about(
            "Base URL clients reach it at, for ping URLs (empty: http://LISTEN:PORT).",
            "http:// or https://, a port from 1 to 65535, no password",
        ),
    )
    body_limit: int = field(
        default=100_000,
        metadata=about("Bytes of a ping's body (log) kept; longer bodies are cut.", bounds.SIZE),
    )
    run_timeout: str = field(
        default="6h",
        metadata=about(
            "Alert when a client's run started and did not end within this.",
            "a duration (30m, 12h, 7d, 2w)",
        ),
    )
    keep_reports: int = field(
        default=100,
        metadata=about(
            "Client reports kept per repository; older ones are deleted as new ones arrive.",
            bounds.KEEP_REPORTS,
        ),
    )
    trusted_proxies: str = field(
        default="",
        metadata=about(
            "Reverse proxies whose X-Forwarded-For names the client (else the peer is).",
            "addresses or networks, comma-separated (127.0.0.1, 10.0.0.0/8)",
        ),
    )
    header_timeout: float = field(
        default=10.0,
        metadata=about(
            "Seconds a client has to send a request's line and headers.", bounds.TIMEOUT
        ),
    )
    body_timeout: float = field(
        default=30.0,
        metadata=about("Seconds a client has to send a request's body.", bounds.TIMEOUT),
    )
    max_connections: int = field(
        default=256,
        metadata=about(
            "Connections served at once; more are answered 503 and closed.",
            bounds.PING_CONNECTIONS,
        ),
    )
    request_limit: int = field(
        default=1_000_000,
        metadata=about(
            "Bytes of a request body read at most; a longer one is refused (413).",
            bounds.PING_REQUEST,
            "raised to body_limit when less",
        ),
    )
    spool: Path = field(
        default=Path("/var/lib/borghive/pings.spool"),
        metadata=about(
            "Reports not written at shutdown, written at the next start.", "absolute path"
        ),
    )


@dataclass(frozen=True)
class HostsConfig:
    """Several storage hosts on one store: how hosts reach each other for ``repo move``,
    placement, and the login snapshot ``authkeys`` reads on a PostgreSQL store."""

    peer_address: str = field(
        default="",
        metadata=about(
            "Address other storage hosts use to copy repositories here over SSH "
            "(empty: this host's name, repos.host).",
            "a DNS name, an IPv4 address or an IPv6 address in [ ]",
        ),
    )
    peer_port: int = field(
        default=22,
        metadata=about("SSH port other hosts use for those copies (as root).", bounds.PORT),
    )
    ssh_identity_file: Path | None = field(
        default=None,
        metadata=about(
            "Private key this host uses for root's SSH to other storage hosts "
            "(empty: ssh's own default).",
            "absolute path",
        ),
    )
    ssh_known_hosts_file: Path | None = field(
        default=None,
        metadata=about(
            "known_hosts file for those connections (empty: ssh's own default); host keys "
            "are always checked.",
            "absolute path",
        ),
    )
    ssh_path: Path = field(
        default=Path("/usr/bin/ssh"),
        metadata=about("The ssh client repo move runs.", _SAFE_PATH),
    )
    rsync_path: Path = field(
        default=Path("/usr/bin/rsync"),
        metadata=about("The rsync repo move runs (here and on the target host).", _SAFE_PATH),
    )
    peer_command: str = field(
        default="borghive",
        metadata=about(
            "The borghive command repo move runs on the target host over SSH.",
            "a command name or absolute path; letters, digits and . _ - + / only",
        ),
    )
    report_within: str = field(
        default="1d",
        metadata=about(
            "Automatic placement considers the hosts that reported capacity within this.",
            "a duration (30m, 12h, 7d, 2w)",
        ),
    )
    heartbeat: str = field(
        default="5m",
        metadata=about(
            "How often borghive watch reports this host's capacity and snapshot state.",
            "a duration from 10s to 1d",
        ),
    )
    snapshot: Path | None = field(
        default=None,
        metadata=about(
            "The login snapshot authkeys reads on a PostgreSQL store (empty: beside the "
            "configuration file, FILE.snapshot).",
            "absolute path",
        ),
    )
    snapshot_refresh: str = field(
        default="5m",
        metadata=about(
            "borghive watch rebuilds the snapshot whole this often, besides at every "
            "change the store notifies.",
            "a duration from 10s to 1d",
        ),
    )
    snapshot_trust: str = field(
        default="1h",
        metadata=about(
            "authkeys trusts a snapshot not confirmed current for this long, then refuses "
            "every login (fail closed) until the store is reachable again: while "
            "PostgreSQL is down logins go on this long; a host cut off from it may miss a "
            "revocation made elsewhere for this long.",
            "a duration from 1m to 7d",
        ),
    )
    move_wait: str = field(
        default="5m",
        metadata=about(
            "repo move waits this long for a client's session to end, then gives up.",
            "a duration (30m, 12h, 7d, 2w)",
        ),
    )


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
    watch: WatchConfig = field(default_factory=WatchConfig)
    maintenance: MaintenanceConfig = field(default_factory=MaintenanceConfig)
    pings: PingsConfig = field(default_factory=PingsConfig)
    hosts: HostsConfig = field(default_factory=HostsConfig)


SECTIONS: dict[str, type[Any]] = {
    "store": StoreConfig,
    "repos": ReposConfig,
    "borg": BorgConfig,
    "keys": KeysConfig,
    "accounts": AccountsConfig,
    "ldap": LdapConfig,
    "alerts": AlertsConfig,
    "stats": StatsConfig,
    "watch": WatchConfig,
    "maintenance": MaintenanceConfig,
    "pings": PingsConfig,
    "hosts": HostsConfig,
}
