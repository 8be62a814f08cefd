"""Doctor check of the login snapshot ``authkeys`` reads on a PostgreSQL store: that it
exists, that sshd's command user can read it, how long ago it was confirmed current
against hosts.snapshot_trust, and the last refresh problem the store holds for this host.
"""

from __future__ import annotations

from borghive.config import Config
from borghive.errors import BorghiveError
from borghive.service.doctor.findings import Check, Status, worst
from borghive.service.doctor.login import readable_by
from borghive.service.doctor.permissions import identity
from borghive.service.hosts.snapshot import SnapshotState, snapshot_state, trust_seconds

NAME = "login snapshot"
# The watch daemon confirms the snapshot every few seconds: a minute without one means it
# is not running or cannot reach the store.
CONFIRMED_WITHIN = 60


def check_login_snapshot(config: Config, user: str) -> Check:
    """On a PostgreSQL store: the snapshot exists, ``user`` can read it, and it is current."""
    state = _state(config)
    if state.path is None:
        return Check(NAME, "ok", "not needed (SQLite store: authkeys reads the store itself)")
    fix = "start borghive watch (it keeps the snapshot current), or run 'borghive migrate'"
    if not state.exists:
        return Check(
            NAME, "FAIL", f"{state.path} does not exist: authkeys refuses every key; {fix}"
        )
    problems: list[tuple[Status, str]] = []
    who = identity(user)
    if who is not None:
        reason = readable_by(state.path, who)
        if reason:
            problems.append(("FAIL", f"{reason}: authkeys refuses every key"))
    trust = trust_seconds(config)
    age = int(state.age or 0)
    if not state.trusted:
        problems.append(
            ("FAIL", f"{state.path} was confirmed current {age}s ago, longer than "
             f"hosts.snapshot_trust ({trust}s): authkeys refuses every key; {fix}")
        )  # fmt: skip
    elif age > CONFIRMED_WITHIN:
        problems.append(
            ("warn", f"{state.path} was confirmed current {age}s ago (trusted for {trust}s): "
             f"is borghive watch running and reaching the store?")
        )  # fmt: skip
    if state.problem:
        problems.append(("warn", f"last refresh problem: {state.problem}"))
    return worst(
        problems, f"{state.path} confirmed current {age}s ago (trusted for {trust}s)", NAME
    )


def _state(config: Config) -> SnapshotState:
    """The snapshot's state, with the problem from the store when it can be read."""
    from borghive.service.hosts.snapshot import snapshot_path
    from borghive.store import open_store

    if snapshot_path(config) is None:
        return snapshot_state(config)
    try:
        with open_store(config.store, readonly=True):
            return snapshot_state(config)
    except BorghiveError:
        return snapshot_state(config)
