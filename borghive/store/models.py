"""Peewee models, bound to one :data:`database` proxy set by :func:`borghive.store.db.connect`.

The tables themselves are created by numbered migrations (``store/migrations.py``), never
from these classes, so the models must match the latest migration.
"""

from __future__ import annotations

from peewee import (
    AutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    DatabaseProxy,
    DateTimeField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

from borghive.rules.times import utcnow

database = DatabaseProxy()

REPOSITORY_MODES = ("borg", "import", "export", "disabled")
ACCESS_MODES = ("full", "append-only")
EVENT_KINDS = ("created", "opened", "closed", "updated", "deleted", "alert", "recovered")
# Who last touched a repository (repository.last_access_by, migration 5).
ACCESS_BY = ("client", "maintenance")


class BaseModel(Model):
    class Meta:
        database = database


class User(BaseModel):
    id = AutoField()
    name = CharField(max_length=64, unique=True)
    email = CharField(max_length=254, null=True)
    realert_interval = IntegerField(default=12 * 3600)
    alert_expiration = IntegerField(default=5 * 86400)
    created = DateTimeField(default=utcnow)

    class Meta:
        table_name = "person"


class SshKey(BaseModel):
    id = AutoField()
    owner = ForeignKeyField(User, backref="keys", on_delete="RESTRICT")
    name = CharField(max_length=64)
    key_type = CharField(max_length=64)
    bits = IntegerField()
    fingerprint = CharField(max_length=64, unique=True)
    public_key = TextField()
    comment = CharField(max_length=100, default="")
    allowed_from = TextField(null=True)
    created = DateTimeField(default=utcnow)
    # Migration 5: the last session opened with this key, and from which address.
    last_used = DateTimeField(null=True)
    last_used_from = CharField(max_length=64, null=True)

    class Meta:
        table_name = "ssh_key"
        indexes = ((("owner", "name"), True),)


class Repository(BaseModel):
    id = AutoField()
    owner = ForeignKeyField(User, backref="repositories", on_delete="RESTRICT")
    name = CharField(max_length=64)
    repo_user = CharField(max_length=32, unique=True)
    uid_number = IntegerField(unique=True)
    mode = CharField(max_length=16, default="borg")
    quota = BigIntegerField(null=True)
    alert_after = IntegerField(null=True)
    last_access = DateTimeField(null=True)
    last_update = DateTimeField(null=True)
    created = DateTimeField(default=utcnow)
    # Set when ``repo delete --purge`` has removed the account and is deleting the data
    # (migration 4): the record stays, without logins, until the data is gone.
    purge_started = DateTimeField(null=True)
    # Migration 5. borg_name: a name in [borg.versions], None for borg.path.
    # compact_every/check_every: seconds, None for the [maintenance] default, 0 for never.
    borg_name = CharField(max_length=32, null=True)
    compact_every = IntegerField(null=True)
    check_every = IntegerField(null=True)
    compact_append_only = BooleanField(default=False)
    last_access_by = CharField(max_length=16, null=True)
    last_compact = DateTimeField(null=True)
    last_bytes_freed = BigIntegerField(null=True)
    last_check = DateTimeField(null=True)
    last_check_ok = BooleanField(null=True)
    last_check_detail = TextField(null=True)
    # Migration 6: the secret in the repository's ping URL (borghive pings), None for none.
    ping_token = CharField(max_length=64, null=True, unique=True)
    # Migration 7: where the transaction reader stopped (the segment and offset just
    # after the last COMMIT read); None before the first read.
    history_segment = IntegerField(null=True)
    history_offset = BigIntegerField(null=True)
    # Migration 9: the storage host (storage_host.name) whose repos root holds it; only
    # that host's authkeys lets a client in.
    host = CharField(max_length=253, default="")

    class Meta:
        table_name = "repository"
        indexes = ((("owner", "name"), True),)


class Access(BaseModel):
    id = AutoField()
    repository = ForeignKeyField(Repository, backref="accesses", on_delete="CASCADE")
    key = ForeignKeyField(SshKey, backref="accesses", on_delete="RESTRICT")
    mode = CharField(max_length=16, default="full")
    allowed_from = TextField(null=True)

    class Meta:
        table_name = "access"
        indexes = ((("repository", "key"), True),)


class BorgSession(BaseModel):
    """One borg serve (or rrsync) session on a storage host (migration 5): the key that
    opened it (from the forced command's marker), the client's address (``SSH_CONNECTION``),
    when it started, took the lock and ended, and whether it committed. ``ended`` is None
    while it runs; ``end_reason`` is ``closed``, ``killed`` or ``vanished``. The key's name
    and fingerprint are copied so that the record outlives the key.
    """

    id = AutoField()
    repository = ForeignKeyField(Repository, backref="sessions", on_delete="CASCADE")
    key = ForeignKeyField(SshKey, backref="sessions", null=True, on_delete="SET NULL")
    key_name = CharField(max_length=64, null=True)
    key_fingerprint = CharField(max_length=64, null=True)
    source = CharField(max_length=64, null=True)
    source_port = IntegerField(null=True)
    host = CharField(max_length=255)
    pid = IntegerField()
    program = CharField(max_length=16)  # "borg" or "rrsync"
    started = DateTimeField(default=utcnow)
    lock_since = DateTimeField(null=True)
    ended = DateTimeField(null=True)
    end_reason = CharField(max_length=16, null=True)
    committed = BooleanField(default=False)

    class Meta:
        table_name = "borg_session"
        indexes = ((("host", "pid", "started"), True),)


MAINTENANCE_ACTIONS = ("compact", "check", "break-lock", "kill")
MAINTENANCE_RESULTS = ("ok", "failed", "refused")


class MaintenanceRun(BaseModel):
    """One maintenance action on a repository (migration 5). A unique partial index allows
    one unfinished run per repository, so inserting the row is the claim; its
    ``started``..``finished`` window is what tells a maintenance commit from a client's.
    """

    id = AutoField()
    repository = ForeignKeyField(Repository, backref="maintenance_runs", on_delete="CASCADE")
    action = CharField(max_length=16)
    host = CharField(max_length=255)
    pid = IntegerField()
    started = DateTimeField(default=utcnow)
    finished = DateTimeField(null=True)
    result = CharField(max_length=16, null=True)
    detail = TextField(default="")
    bytes_freed = BigIntegerField(null=True)

    class Meta:
        table_name = "maintenance_run"


class Event(BaseModel):
    id = AutoField()
    repository = ForeignKeyField(Repository, backref="events", on_delete="CASCADE")
    kind = CharField(max_length=16)
    time = DateTimeField(default=utcnow)
    detail = TextField(default="")
    # Migration 5: the session an event belongs to, and its key and source, where known.
    session = ForeignKeyField(BorgSession, backref="events", null=True, on_delete="SET NULL")
    key_name = CharField(max_length=64, null=True)
    source = CharField(max_length=64, null=True)

    class Meta:
        table_name = "event"


class Statistic(BaseModel):
    id = AutoField()
    repository = ForeignKeyField(Repository, backref="statistics", on_delete="CASCADE")
    time = DateTimeField(default=utcnow)
    bytes_used = BigIntegerField()
    file_count = IntegerField()
    # Added by migration 2; null on rows collected before it.
    apparent_bytes = BigIntegerField(null=True)
    segment_count = IntegerField(null=True)
    last_access = DateTimeField(null=True)
    last_update = DateTimeField(null=True)
    initialised = BooleanField(null=True)
    borg_version = IntegerField(null=True)
    has_key = BooleanField(null=True)
    locked = BooleanField(null=True)
    duration = FloatField(null=True)

    class Meta:
        table_name = "statistic"


ALERT_KINDS = (  # alert_state.kind, checked here since migration 5
    "stale",
    "quota",
    "check-failed",  # service/alerts/upkeep.py
    "lock-stuck",
    "client-failed",  # service/alerts/client.py
    "client-timeout",
    "deletion",  # service/alerts/deletion.py
)


class NotifyChannel(BaseModel):
    """Where an owner's alerts go (migration 3)."""

    id = AutoField()
    owner = ForeignKeyField(User, backref="channels", on_delete="CASCADE")
    kind = CharField(max_length=16)
    target = CharField(max_length=2048)
    created = DateTimeField(default=utcnow)

    class Meta:
        table_name = "notify_channel"
        indexes = ((("owner", "kind", "target"), True),)


class AlertState(BaseModel):
    """What was sent for one alert of one repository through one channel (migration 3).

    ``since`` is when the condition began (stale: the last update, else creation); ``level``
    the quota percentage last announced; ``recovering`` a recovery notice still to send.
    A failed send only counts ``failures`` and keeps ``last_error``: it is retried.
    """

    id = AutoField()
    repository = ForeignKeyField(Repository, backref="alert_states", on_delete="CASCADE")
    channel = ForeignKeyField(NotifyChannel, backref="alert_states", on_delete="CASCADE")
    kind = CharField(max_length=16)
    since = DateTimeField()
    level = IntegerField(default=0)
    last_sent = DateTimeField(null=True)
    sent_count = IntegerField(default=0)
    recovering = BooleanField(default=False)
    failures = IntegerField(default=0)
    last_error = TextField(null=True)
    # Migration 5: what the alert is about (damaged segments, the session holding a lock).
    detail = TextField(default="")

    class Meta:
        table_name = "alert_state"
        indexes = ((("repository", "channel", "kind"), True),)


class RepoTransaction(BaseModel):
    """One committed borg transaction, read from segment headers (migration 7): borg's
    transaction id (the COMMIT's ``segment``), its first segment, time, puts, deletes and
    bytes; ``segments_present`` the segments up to its commit that were on disk when it
    was read (ranges, ``0-41,43``), so that a rollback can tell what compaction removed
    since. ``made_by`` is ``client`` or ``maintenance`` where known; ``rolled_back`` set
    when a rollback quarantined it."""

    id = AutoField()
    repository = ForeignKeyField(Repository, backref="transactions", on_delete="CASCADE")
    segment = IntegerField()
    commit_offset = BigIntegerField()
    first_segment = IntegerField()
    time = DateTimeField()
    puts = IntegerField()
    deletes = IntegerField()
    bytes_added = BigIntegerField()
    segments_present = TextField()
    made_by = CharField(max_length=16, null=True)
    session = ForeignKeyField(BorgSession, backref="transactions", null=True, on_delete="SET NULL")
    key_name = CharField(max_length=64, null=True)
    source = CharField(max_length=64, null=True)
    append_only = BooleanField(null=True)
    recorded = DateTimeField(default=utcnow)
    rolled_back = DateTimeField(null=True)
    # Migration 8: when ``alert ack`` acknowledged this (deleting) transaction.
    acknowledged = DateTimeField(null=True)

    class Meta:
        table_name = "repo_transaction"


REPORT_KINDS = ("start", "success", "fail", "log")


class ClientReport(BaseModel):
    """One ping a client sent about its own run (migration 6): ``start``, ``success``,
    ``fail`` (a non-zero exit status too) or ``log``. ``run_id`` is Healthchecks' ``rid``;
    ``duration`` is start to end of the same run where the start was seen; ``body`` the
    client's log, cut to pings.body_limit (``body_truncated`` then True)."""

    id = AutoField()
    repository = ForeignKeyField(Repository, backref="client_reports", on_delete="CASCADE")
    received = DateTimeField(default=utcnow)
    kind = CharField(max_length=16)
    run_id = CharField(max_length=64, null=True)
    exit_status = IntegerField(null=True)
    duration = FloatField(null=True)
    body = TextField(default="")
    body_truncated = BooleanField(default=False)
    source = CharField(max_length=64, null=True)

    class Meta:
        table_name = "client_report"


INTENT_ACTIONS = ("create", "delete", "lock", "unlock")


class AccountIntent(BaseModel):
    """An account change recorded (and committed) before the directory is written
    (migration 4). It is removed in the same transaction as the store change it belongs
    to, so one that is left says the directory may differ from the store for
    ``repo_user``: the next command that touches accounts reads the account back and makes
    it what the store says. Its ``uid_number`` (and name) stay reserved meanwhile.
    """

    id = AutoField()
    repo_user = CharField(max_length=32, unique=True)
    uid_number = IntegerField()
    action = CharField(max_length=16)
    started = DateTimeField(default=utcnow)
    # When the command that recorded it gave up (the directory did not answer, or undoing
    # failed): from then on any command resolves it; before, only once it is old.
    given_up = DateTimeField(null=True)

    class Meta:
        table_name = "account_intent"


class StorageHost(BaseModel):
    """A storage host (migration 9): what it last reported of itself and its disk, and
    whether placement may choose it. ``name`` is its repos.host (or host name)."""

    id = AutoField()
    name = CharField(max_length=253, unique=True)
    # How clients and other hosts reach it (repos.ssh_port, hosts.peer_address/peer_port)
    # and where its repositories are (repos.root), as it last reported.
    ssh_port = IntegerField(null=True)
    peer_address = CharField(max_length=253, null=True)
    peer_port = IntegerField(null=True)
    repos_root = TextField(null=True)
    # Bytes of the repos root's file system, and the repositories placed here.
    capacity = BigIntegerField(null=True)
    used = BigIntegerField(null=True)
    free = BigIntegerField(null=True)
    repositories = IntegerField(null=True)
    reported = DateTimeField(null=True)
    version = CharField(max_length=32, null=True)
    # No automatic or explicit placement here while set (borghive host drain).
    draining = BooleanField(default=False)
    # The login snapshot: when the host last knew it current, and why it could not
    # refresh it (None when it could).
    snapshot_confirmed = DateTimeField(null=True)
    snapshot_problem = TextField(null=True)
    created = DateTimeField(default=utcnow)

    class Meta:
        table_name = "storage_host"


# repo_move.step: what the move did last (migration 9).
MOVE_STEPS = ("disabled", "copying", "copied", "verified", "switched")
# repo_move.outcome, set with ended.
MOVE_OUTCOMES = ("finished", "purged", "aborted")


class RepoMove(BaseModel):
    """A repository's move to another storage host (migration 9). Open (``ended`` None)
    from the start until ``--finish``, ``--purge-source`` or ``--abort``: one at a time per
    repository. ``saved_mode`` is the mode to restore once logins come back."""

    id = AutoField()
    repository = ForeignKeyField(Repository, backref="moves", on_delete="CASCADE")
    source_host = CharField(max_length=253)
    target_host = CharField(max_length=253)
    step = CharField(max_length=16)
    saved_mode = CharField(max_length=16)
    started = DateTimeField(default=utcnow)
    switched = DateTimeField(null=True)
    ended = DateTimeField(null=True)
    outcome = CharField(max_length=16, null=True)
    detail = TextField(null=True)

    class Meta:
        table_name = "repo_move"


class SchemaMigration(BaseModel):
    version = IntegerField(primary_key=True)
    description = TextField()
    applied = DateTimeField(default=utcnow)

    class Meta:
        table_name = "schema_migration"
