"""Numbered schema migrations, recorded in ``schema_migration``.

Each migration is frozen SQL valid on SQLite and PostgreSQL (``{pk}`` is the only
difference); never edit one that has shipped, add the next number instead.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass

from peewee import Database, PostgresqlDatabase

from borghive.login.storeurl import SCHEMA_VERSION
from borghive.rules.times import utcnow
from borghive.store.db import execute, write_transaction
from borghive.store.models import SchemaMigration


@dataclass(frozen=True)
class Migration:
    """``statements`` run on both back ends; ``postgres`` after them on PostgreSQL only.
    In a statement, ``:host`` stands for the name of the host running the migration and
    ``:now`` for the current time (both passed as parameters)."""

    version: int
    description: str
    statements: tuple[str, ...]
    postgres: tuple[str, ...] = ()


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "initial schema: person, ssh_key, repository, access, event, statistic",
        (
            """CREATE TABLE person (
                id {pk},
                name VARCHAR(64) NOT NULL UNIQUE,
                email VARCHAR(254),
                realert_interval INTEGER NOT NULL,
                alert_expiration INTEGER NOT NULL,
                created TIMESTAMP NOT NULL)""",
            """CREATE TABLE ssh_key (
                id {pk},
                owner_id INTEGER NOT NULL REFERENCES person (id) ON DELETE RESTRICT,
                name VARCHAR(64) NOT NULL,
                key_type VARCHAR(64) NOT NULL,
                bits INTEGER NOT NULL,
                fingerprint VARCHAR(64) NOT NULL UNIQUE,
                public_key TEXT NOT NULL,
                comment VARCHAR(100) NOT NULL,
                allowed_from TEXT,
                created TIMESTAMP NOT NULL,
                UNIQUE (owner_id, name))""",
            """CREATE TABLE repository (
                id {pk},
                owner_id INTEGER NOT NULL REFERENCES person (id) ON DELETE RESTRICT,
                name VARCHAR(64) NOT NULL,
                repo_user VARCHAR(32) NOT NULL UNIQUE,
                uid_number INTEGER NOT NULL UNIQUE,
                mode VARCHAR(16) NOT NULL
                    CHECK (mode IN ('borg', 'import', 'export', 'disabled')),
                quota BIGINT,
                alert_after INTEGER,
                last_access TIMESTAMP,
                last_update TIMESTAMP,
                created TIMESTAMP NOT NULL,
                UNIQUE (owner_id, name))""",
            """CREATE TABLE access (
                id {pk},
                repository_id INTEGER NOT NULL REFERENCES repository (id) ON DELETE CASCADE,
                key_id INTEGER NOT NULL REFERENCES ssh_key (id) ON DELETE RESTRICT,
                mode VARCHAR(16) NOT NULL CHECK (mode IN ('full', 'append-only')),
                allowed_from TEXT,
                UNIQUE (repository_id, key_id))""",
            "CREATE INDEX access_key_id ON access (key_id)",
            """CREATE TABLE event (
                id {pk},
                repository_id INTEGER NOT NULL REFERENCES repository (id) ON DELETE CASCADE,
                kind VARCHAR(16) NOT NULL,
                time TIMESTAMP NOT NULL,
                detail TEXT NOT NULL)""",
            "CREATE INDEX event_repository_time ON event (repository_id, time)",
            """CREATE TABLE statistic (
                id {pk},
                repository_id INTEGER NOT NULL REFERENCES repository (id) ON DELETE CASCADE,
                time TIMESTAMP NOT NULL,
                bytes_used BIGINT NOT NULL,
                file_count INTEGER NOT NULL)""",
            "CREATE INDEX statistic_repository_time ON statistic (repository_id, time)",
        ),
    ),
    Migration(
        2,
        "statistic: apparent size, segments, timestamps, borg config, lock, walk time",
        (
            "ALTER TABLE statistic ADD COLUMN apparent_bytes BIGINT",
            "ALTER TABLE statistic ADD COLUMN segment_count INTEGER",
            "ALTER TABLE statistic ADD COLUMN last_access TIMESTAMP",
            "ALTER TABLE statistic ADD COLUMN last_update TIMESTAMP",
            "ALTER TABLE statistic ADD COLUMN initialised BOOLEAN",
            "ALTER TABLE statistic ADD COLUMN borg_version INTEGER",
            "ALTER TABLE statistic ADD COLUMN has_key BOOLEAN",
            "ALTER TABLE statistic ADD COLUMN locked BOOLEAN",
            "ALTER TABLE statistic ADD COLUMN duration DOUBLE PRECISION",
        ),
    ),
    Migration(
        3,
        "alerts: notify_channel per owner, alert_state per repository and channel",
        (
            """CREATE TABLE notify_channel (
                id {pk},
                owner_id INTEGER NOT NULL REFERENCES person (id) ON DELETE CASCADE,
                kind VARCHAR(16) NOT NULL CHECK (kind IN ('email', 'webhook', 'pushover')),
                target VARCHAR(2048) NOT NULL,
                created TIMESTAMP NOT NULL,
                UNIQUE (owner_id, kind, target))""",
            """CREATE TABLE alert_state (
                id {pk},
                repository_id INTEGER NOT NULL REFERENCES repository (id) ON DELETE CASCADE,
                channel_id INTEGER NOT NULL REFERENCES notify_channel (id) ON DELETE CASCADE,
                kind VARCHAR(16) NOT NULL CHECK (kind IN ('stale', 'quota')),
                since TIMESTAMP NOT NULL,
                level INTEGER NOT NULL,
                last_sent TIMESTAMP,
                sent_count INTEGER NOT NULL,
                recovering BOOLEAN NOT NULL,
                failures INTEGER NOT NULL,
                last_error TEXT,
                UNIQUE (repository_id, channel_id, kind))""",
            "CREATE INDEX alert_state_channel_id ON alert_state (channel_id)",
        ),
    ),
    Migration(
        4,
        "account_intent: account changes recorded before the directory is written; "
        "repository.purge_started",
        (
            """CREATE TABLE account_intent (
                id {pk},
                repo_user VARCHAR(32) NOT NULL UNIQUE,
                uid_number INTEGER NOT NULL,
                action VARCHAR(16) NOT NULL
                    CHECK (action IN ('create', 'delete', 'lock', 'unlock')),
                started TIMESTAMP NOT NULL,
                given_up TIMESTAMP)""",
            "ALTER TABLE repository ADD COLUMN purge_started TIMESTAMP",
        ),
    ),
    Migration(
        5,
        "sessions and maintenance: borg_session, maintenance_run; repository borg version, "
        "maintenance schedule and results; ssh_key last use; event session, key and source; "
        "alert_state kind checked by the application (the kinds grow)",
        (
            """CREATE TABLE borg_session (
                id {pk},
                repository_id INTEGER NOT NULL REFERENCES repository (id) ON DELETE CASCADE,
                key_id INTEGER REFERENCES ssh_key (id) ON DELETE SET NULL,
                key_name VARCHAR(64),
                key_fingerprint VARCHAR(64),
                source VARCHAR(64),
                source_port INTEGER,
                host VARCHAR(255) NOT NULL,
                pid INTEGER NOT NULL,
                program VARCHAR(16) NOT NULL,
                started TIMESTAMP NOT NULL,
                lock_since TIMESTAMP,
                ended TIMESTAMP,
                end_reason VARCHAR(16),
                committed BOOLEAN NOT NULL DEFAULT FALSE,
                UNIQUE (host, pid, started))""",
            "CREATE INDEX borg_session_repository_ended ON borg_session (repository_id, ended)",
            "CREATE INDEX borg_session_key_id ON borg_session (key_id)",
            """CREATE TABLE maintenance_run (
                id {pk},
                repository_id INTEGER NOT NULL REFERENCES repository (id) ON DELETE CASCADE,
                action VARCHAR(16) NOT NULL,
                host VARCHAR(255) NOT NULL,
                pid INTEGER NOT NULL,
                started TIMESTAMP NOT NULL,
                finished TIMESTAMP,
                result VARCHAR(16),
                detail TEXT NOT NULL DEFAULT '',
                bytes_freed BIGINT)""",
            "CREATE INDEX maintenance_run_repository_started "
            "ON maintenance_run (repository_id, started)",
            # At most one unfinished run per repository, on every host at once: the claim
            # that makes several hosts' cron safe on one PostgreSQL store.
            "CREATE UNIQUE INDEX maintenance_run_one_running "
            "ON maintenance_run (repository_id) WHERE finished IS NULL",
            "ALTER TABLE repository ADD COLUMN borg_name VARCHAR(32)",
            "ALTER TABLE repository ADD COLUMN compact_every INTEGER",
            "ALTER TABLE repository ADD COLUMN check_every INTEGER",
            "ALTER TABLE repository ADD COLUMN compact_append_only BOOLEAN NOT NULL DEFAULT FALSE",
            "ALTER TABLE repository ADD COLUMN last_access_by VARCHAR(16)",
            "ALTER TABLE repository ADD COLUMN last_compact TIMESTAMP",
            "ALTER TABLE repository ADD COLUMN last_bytes_freed BIGINT",
            "ALTER TABLE repository ADD COLUMN last_check TIMESTAMP",
            "ALTER TABLE repository ADD COLUMN last_check_ok BOOLEAN",
            "ALTER TABLE repository ADD COLUMN last_check_detail TEXT",
            "ALTER TABLE ssh_key ADD COLUMN last_used TIMESTAMP",
            "ALTER TABLE ssh_key ADD COLUMN last_used_from VARCHAR(64)",
            "ALTER TABLE event ADD COLUMN session_id INTEGER "
            "REFERENCES borg_session (id) ON DELETE SET NULL",
            "ALTER TABLE event ADD COLUMN key_name VARCHAR(64)",
            "ALTER TABLE event ADD COLUMN source VARCHAR(64)",
            # Rebuilt, not altered: SQLite cannot drop a CHECK, and the same statements
            # must run on PostgreSQL. The kinds are checked where alerts are planned.
            """CREATE TABLE alert_state_new (
                id {pk},
                repository_id INTEGER NOT NULL REFERENCES repository (id) ON DELETE CASCADE,
                channel_id INTEGER NOT NULL REFERENCES notify_channel (id) ON DELETE CASCADE,
                kind VARCHAR(16) NOT NULL,
                since TIMESTAMP NOT NULL,
                level INTEGER NOT NULL,
                last_sent TIMESTAMP,
                sent_count INTEGER NOT NULL,
                recovering BOOLEAN NOT NULL,
                failures INTEGER NOT NULL,
                last_error TEXT,
                detail TEXT NOT NULL DEFAULT '',
                UNIQUE (repository_id, channel_id, kind))""",
            # Without the ids: nothing refers to them, and copied ids would collide with
            # the new table's own sequence on PostgreSQL.
            """INSERT INTO alert_state_new (repository_id, channel_id, kind, since, level,
                last_sent, sent_count, recovering, failures, last_error)
                SELECT repository_id, channel_id, kind, since, level, last_sent,
                sent_count, recovering, failures, last_error FROM alert_state""",
            "DROP TABLE alert_state",
            "ALTER TABLE alert_state_new RENAME TO alert_state",
            "CREATE INDEX alert_state_channel_id ON alert_state (channel_id)",
        ),
    ),
    Migration(
        6,
        "client reports: repository.ping_token, client_report",
        (
            "ALTER TABLE repository ADD COLUMN ping_token VARCHAR(64)",
            "CREATE UNIQUE INDEX repository_ping_token ON repository (ping_token)",
            """CREATE TABLE client_report (
                id {pk},
                repository_id INTEGER NOT NULL REFERENCES repository (id) ON DELETE CASCADE,
                received TIMESTAMP NOT NULL,
                kind VARCHAR(16) NOT NULL CHECK (kind IN ('start', 'success', 'fail', 'log')),
                run_id VARCHAR(64),
                exit_status INTEGER,
                duration DOUBLE PRECISION,
                body TEXT NOT NULL DEFAULT '',
                body_truncated BOOLEAN NOT NULL DEFAULT FALSE,
                source VARCHAR(64))""",
            "CREATE INDEX client_report_repository_received "
            "ON client_report (repository_id, received)",
        ),
    ),
    Migration(
        7,
        "transaction history: repo_transaction read from segment headers; "
        "repository.history_segment/history_offset (the reader's cursor)",
        (
            """CREATE TABLE repo_transaction (
                id {pk},
                repository_id INTEGER NOT NULL REFERENCES repository (id) ON DELETE CASCADE,
                segment INTEGER NOT NULL,
                commit_offset BIGINT NOT NULL,
                first_segment INTEGER NOT NULL,
                time TIMESTAMP NOT NULL,
                puts INTEGER NOT NULL,
                deletes INTEGER NOT NULL,
                bytes_added BIGINT NOT NULL,
                segments_present TEXT NOT NULL,
                made_by VARCHAR(16),
                session_id INTEGER REFERENCES borg_session (id) ON DELETE SET NULL,
                key_name VARCHAR(64),
                source VARCHAR(64),
                append_only BOOLEAN,
                recorded TIMESTAMP NOT NULL,
                rolled_back TIMESTAMP)""",
            # A rollback makes borg reuse the segment numbers after its target: only the
            # transactions not rolled back are unique by segment.
            "CREATE UNIQUE INDEX repo_transaction_current "
            "ON repo_transaction (repository_id, segment) WHERE rolled_back IS NULL",
            "CREATE INDEX repo_transaction_repository_time "
            "ON repo_transaction (repository_id, time)",
            "ALTER TABLE repository ADD COLUMN history_segment INTEGER",
            "ALTER TABLE repository ADD COLUMN history_offset BIGINT",
        ),
    ),
    Migration(
        8,
        "deletion alerts: repo_transaction.acknowledged",
        ("ALTER TABLE repo_transaction ADD COLUMN acknowledged TIMESTAMP",),
    ),
    Migration(
        9,
        "several storage hosts: storage_host, repository.host (existing repositories "
        "belong to the host that migrates), repo_move; on PostgreSQL, login changes "
        "notify channel borghive_login",
        (
            """CREATE TABLE storage_host (
                id {pk},
                name VARCHAR(253) NOT NULL UNIQUE,
                ssh_port INTEGER,
                peer_address VARCHAR(253),
                peer_port INTEGER,
                repos_root TEXT,
                capacity BIGINT,
                used BIGINT,
                free BIGINT,
                repositories INTEGER,
                reported TIMESTAMP,
                version VARCHAR(32),
                draining BOOLEAN NOT NULL DEFAULT FALSE,
                snapshot_confirmed TIMESTAMP,
                snapshot_problem TEXT,
                created TIMESTAMP NOT NULL)""",
            "INSERT INTO storage_host (name, draining, created) VALUES (:host, FALSE, :now)",
            "ALTER TABLE repository ADD COLUMN host VARCHAR(253) NOT NULL DEFAULT ''",
            "UPDATE repository SET host = :host",
            "CREATE INDEX repository_host ON repository (host)",
            """CREATE TABLE repo_move (
                id {pk},
                repository_id INTEGER NOT NULL REFERENCES repository (id) ON DELETE CASCADE,
                source_host VARCHAR(253) NOT NULL,
                target_host VARCHAR(253) NOT NULL,
                step VARCHAR(16) NOT NULL CHECK (step IN
                    ('disabled', 'copying', 'copied', 'verified', 'switched')),
                saved_mode VARCHAR(16) NOT NULL,
                started TIMESTAMP NOT NULL,
                switched TIMESTAMP,
                ended TIMESTAMP,
                outcome VARCHAR(16) CHECK (outcome IN ('finished', 'purged', 'aborted')),
                detail TEXT)""",
            # one open move per repository
            "CREATE UNIQUE INDEX repo_move_open ON repo_move (repository_id) WHERE ended IS NULL",
        ),
        postgres=(
            # The login snapshot's change feed: every change to what logins read notifies
            # the hosts it concerns (the payload is a host name, or '' for every host).
            # Statistics and session updates of repository and ssh_key do not notify.
            """CREATE FUNCTION borghive_login_changed() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_TABLE_NAME = 'repository' THEN
                    IF TG_OP <> 'INSERT' THEN
                        PERFORM pg_notify('borghive_login', COALESCE(OLD.host, ''));
                    END IF;
                    IF TG_OP <> 'DELETE' THEN
                        PERFORM pg_notify('borghive_login', COALESCE(NEW.host, ''));
                    END IF;
                ELSIF TG_TABLE_NAME = 'access' THEN
                    PERFORM pg_notify('borghive_login', COALESCE((SELECT host FROM repository
                        WHERE id = CASE WHEN TG_OP = 'DELETE' THEN OLD.repository_id
                                        ELSE NEW.repository_id END), ''));
                ELSE
                    PERFORM pg_notify('borghive_login', '');
                END IF;
                RETURN NULL;
            END $$""",
            "CREATE TRIGGER repository_login_insert_delete AFTER INSERT OR DELETE ON repository "
            "FOR EACH ROW EXECUTE FUNCTION borghive_login_changed()",
            """CREATE TRIGGER repository_login_update AFTER UPDATE ON repository
            FOR EACH ROW WHEN (
                OLD.host IS DISTINCT FROM NEW.host OR OLD.mode IS DISTINCT FROM NEW.mode
                OR OLD.name IS DISTINCT FROM NEW.name
                OR OLD.repo_user IS DISTINCT FROM NEW.repo_user
                OR OLD.quota IS DISTINCT FROM NEW.quota
                OR OLD.borg_name IS DISTINCT FROM NEW.borg_name
                OR OLD.purge_started IS DISTINCT FROM NEW.purge_started)
            EXECUTE FUNCTION borghive_login_changed()""",
            "CREATE TRIGGER access_login AFTER INSERT OR UPDATE OR DELETE ON access "
            "FOR EACH ROW EXECUTE FUNCTION borghive_login_changed()",
            "CREATE TRIGGER ssh_key_login_insert_delete AFTER INSERT OR DELETE ON ssh_key "
            "FOR EACH STATEMENT EXECUTE FUNCTION borghive_login_changed()",
            """CREATE TRIGGER ssh_key_login_update AFTER UPDATE ON ssh_key
            FOR EACH ROW WHEN (
                OLD.public_key IS DISTINCT FROM NEW.public_key
                OR OLD.fingerprint IS DISTINCT FROM NEW.fingerprint
                OR OLD.key_type IS DISTINCT FROM NEW.key_type
                OR OLD.name IS DISTINCT FROM NEW.name
                OR OLD.allowed_from IS DISTINCT FROM NEW.allowed_from)
            EXECUTE FUNCTION borghive_login_changed()""",
            "CREATE TRIGGER account_intent_login AFTER INSERT OR UPDATE OR DELETE "
            "ON account_intent FOR EACH STATEMENT EXECUTE FUNCTION borghive_login_changed()",
        ),
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version
if LATEST_VERSION != SCHEMA_VERSION:  # pragma: no cover - caught by any test run
    raise RuntimeError(
        f"store/url.py SCHEMA_VERSION {SCHEMA_VERSION} != migration {LATEST_VERSION}"
    )

# :host and :now in a statement (never inside the $$-quoted function bodies)
_PARAMETER = re.compile(r"(?<![:\w]):(host|now)\b")

_CREATE_LEDGER = """CREATE TABLE IF NOT EXISTS schema_migration (
    version INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied TIMESTAMP NOT NULL)"""


def _primary_key(db: Database) -> str:
    if isinstance(db, PostgresqlDatabase):
        return "SERIAL PRIMARY KEY"
    return "INTEGER PRIMARY KEY AUTOINCREMENT"


def current_version(db: Database) -> int:
    """The highest applied migration, 0 for an empty store."""
    if not db.table_exists("schema_migration"):
        return 0
    value = (
        SchemaMigration.select(SchemaMigration.version)
        .order_by(SchemaMigration.version.desc())
        .scalar()
    )
    return int(value or 0)


def apply_migrations(db: Database, this_host: str = "") -> list[Migration]:
    """Apply every pending migration in one transaction each; return those applied.
    ``this_host`` names the storage host running it (repos.host; empty: this machine's
    host name): migration 9 places the existing repositories there.

    Safe to run twice or concurrently: the ledger is locked while checking and applying.
    """
    host = this_host or socket.gethostname()
    applied: list[Migration] = []
    execute(_CREATE_LEDGER, db=db)
    for migration in MIGRATIONS:
        with write_transaction(db):
            if isinstance(db, PostgresqlDatabase):
                execute("LOCK TABLE schema_migration IN EXCLUSIVE MODE", db=db)
            if SchemaMigration.get_or_none(SchemaMigration.version == migration.version):
                continue
            statements = migration.statements
            if isinstance(db, PostgresqlDatabase):
                statements += migration.postgres
            values = {"host": host, "now": utcnow()}
            placeholder = "%s" if isinstance(db, PostgresqlDatabase) else "?"
            for statement in statements:
                sql = statement if "$$" in statement else statement.format(pk=_primary_key(db))
                names = _PARAMETER.findall(sql)
                sql = _PARAMETER.sub(placeholder, sql)
                execute(sql, tuple(values[name] for name in names), db=db)
            SchemaMigration.create(
                version=migration.version, description=migration.description, applied=utcnow()
            )
            applied.append(migration)
    return applied
