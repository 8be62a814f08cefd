"""The pure classifier fed with inotify event sequences of borg 1.2.4 (recorded with
inotifywait and again with pyinotify on a repository root)."""

from __future__ import annotations

from borghive.watch.classify import (
    IN_CREATE,
    IN_DELETE,
    IN_ISDIR,
    IN_MOVED_FROM,
    IN_MOVED_TO,
    Action,
    Change,
    Outcome,
    RepoState,
    change_from_mask,
    classify,
    discovered,
    index_number,
    removed,
    resynchronised,
)

MASKS = {
    "IN_CREATE": IN_CREATE,
    "IN_DELETE": IN_DELETE,
    "IN_MOVED_TO": IN_MOVED_TO,
    "IN_MOVED_FROM": IN_MOVED_FROM,
    "IN_ISDIR": IN_ISDIR,
}

# borg 1.2.4 "borg list": two exclusive-lock pairs around a shared lock in the roster.
BORG_LIST = """
IN_CREATE|IN_ISDIR lock.exclusive.dkhq1mc8.tmp
IN_MOVED_FROM|IN_ISDIR lock.exclusive.dkhq1mc8.tmp
IN_MOVED_TO|IN_ISDIR lock.exclusive
IN_CREATE lock.roster
IN_DELETE|IN_ISDIR lock.exclusive
IN_CREATE|IN_ISDIR lock.exclusive.jvb2khur.tmp
IN_MOVED_FROM|IN_ISDIR lock.exclusive.jvb2khur.tmp
IN_MOVED_TO|IN_ISDIR lock.exclusive
IN_DELETE lock.roster
IN_DELETE|IN_ISDIR lock.exclusive
"""

# borg 1.2.4 "borg create": lock, roster, nonce, one commit, old files removed.
BORG_CREATE_ONE_COMMIT = """
IN_CREATE|IN_ISDIR lock.exclusive.shhdbe8u.tmp
IN_MOVED_FROM|IN_ISDIR lock.exclusive.shhdbe8u.tmp
IN_MOVED_TO|IN_ISDIR lock.exclusive
IN_CREATE lock.roster
IN_CREATE nonce-25jpiwzx.tmp
IN_MOVED_FROM nonce-25jpiwzx.tmp
IN_MOVED_TO nonce
IN_CREATE hints.5.tmp
IN_CREATE index.5.tmp
IN_CREATE integrity.5.tmp
IN_MOVED_FROM integrity.5.tmp
IN_MOVED_TO integrity.5
IN_MOVED_FROM hints.5.tmp
IN_MOVED_TO hints.5
IN_MOVED_FROM index.5.tmp
IN_MOVED_TO index.5
IN_DELETE hints.1
IN_DELETE integrity.1
IN_DELETE index.1
IN_DELETE lock.roster
IN_DELETE|IN_ISDIR lock.exclusive
"""


def _commit(number: int, previous: int | None) -> str:
    lines = [f"IN_CREATE {kind}.{number}.tmp" for kind in ("hints", "index", "integrity")]
    for kind in ("integrity", "hints", "index"):
        lines += [f"IN_MOVED_FROM {kind}.{number}.tmp", f"IN_MOVED_TO {kind}.{number}"]
    if previous is not None:
        lines += [f"IN_DELETE {kind}.{previous}" for kind in ("hints", "integrity", "index")]
    return "\n".join(lines)


# "borg create" with checkpoints: three commits inside one lock.
BORG_CREATE_CHECKPOINTS = "\n".join(
    [
        "IN_MOVED_TO|IN_ISDIR lock.exclusive",
        "IN_CREATE lock.roster",
        _commit(2, 1),
        _commit(3, 2),
        _commit(4, 3),
        "IN_DELETE lock.roster",
        "IN_DELETE|IN_ISDIR lock.exclusive",
    ]
)

# borg 1.2.4 "borg init" after the repository directory appeared (README already there).
BORG_INIT = (
    """
IN_MOVED_FROM config-dbii8vtj.tmp
IN_MOVED_TO config
IN_CREATE|IN_ISDIR lock.exclusive.dkhq1mc8.tmp
IN_MOVED_FROM|IN_ISDIR lock.exclusive.dkhq1mc8.tmp
IN_MOVED_TO|IN_ISDIR lock.exclusive
IN_CREATE lock.roster
IN_CREATE config.old
IN_CREATE config-sdmpvwye.tmp
IN_MOVED_FROM config-sdmpvwye.tmp
IN_MOVED_TO config
IN_DELETE config.old
"""
    + _commit(1, None)
    + """
IN_DELETE lock.roster
IN_DELETE|IN_ISDIR lock.exclusive
"""
)


def _changes(text: str) -> list[Change]:
    changes = []
    for line in filter(None, text.strip().splitlines()):
        flags, name = line.split()
        mask = 0
        for flag in flags.split("|"):
            mask |= MASKS[flag]
        change = change_from_mask(mask, name)
        assert change is not None
        changes.append(change)
    return changes


def _run(text: str, state: RepoState) -> tuple[RepoState, list[Outcome]]:
    outcomes: list[Outcome] = []
    for change in _changes(text):
        state, produced = classify(state, change)
        outcomes.extend(produced)
    return state, outcomes


KNOWN = RepoState(index=1, created=True)


def test_borg_list_is_one_opened_closed_pair() -> None:
    state, outcomes = _run(BORG_LIST, KNOWN)
    assert outcomes == [Outcome("opened"), Outcome("closed")]
    assert state == KNOWN


def test_the_session_closes_only_when_lock_and_roster_are_gone() -> None:
    changes = _changes(BORG_LIST)
    state, kinds = KNOWN, []
    for change in changes[:-1]:
        state, produced = classify(state, change)
        kinds += [o.kind for o in produced]
    assert kinds == ["opened"] and state.session and state.exclusive and not state.roster
    _, produced = classify(state, changes[-1])
    assert [o.kind for o in produced] == ["closed"]


def test_borg_create_is_opened_updated_closed() -> None:
    state, outcomes = _run(BORG_CREATE_ONE_COMMIT, RepoState(index=1, created=True))
    assert outcomes == [Outcome("opened"), Outcome("updated", "1 commit"), Outcome("closed")]
    assert state.index == 5 and not state.session and state.commits == 0


def test_create_with_checkpoints_is_one_updated_with_the_commit_count() -> None:
    _, outcomes = _run(BORG_CREATE_CHECKPOINTS, KNOWN)
    assert outcomes == [Outcome("opened"), Outcome("updated", "3 commits"), Outcome("closed")]


def test_borg_init_is_created_then_one_session() -> None:
    state, outcomes = _run("IN_CREATE README\n" + BORG_INIT, RepoState())
    assert [o.kind for o in outcomes] == ["created", "opened", "updated", "closed"]
    assert state.created and state.index == 1


def test_borg_11_mkdir_lock_is_an_open() -> None:
    state, outcomes = classify(KNOWN, Change(Action.APPEARED, "lock.exclusive", is_dir=True))
    assert outcomes == (Outcome("opened"),) and state.session
    state, outcomes = classify(state, Change(Action.VANISHED, "lock.exclusive", is_dir=True))
    assert outcomes == (Outcome("closed"),)


def test_config_rewrites_of_a_known_repository_are_not_creations() -> None:
    _, outcomes = _run("IN_MOVED_TO config\nIN_CREATE README", KNOWN)
    assert outcomes == []


def test_a_commit_outside_any_session_is_an_update() -> None:
    _, outcomes = _run(_commit(2, 1), KNOWN)
    assert outcomes == [Outcome("updated", "1 commit")]


def test_irrelevant_names_and_masks() -> None:
    assert change_from_mask(0x2, "index.3") is None  # IN_MODIFY
    assert change_from_mask(IN_CREATE, "") is None
    assert index_number("index.12") == 12
    assert index_number("index.12.tmp") is None
    assert index_number("index.") is None
    _, outcomes = _run("IN_CREATE nonce\nIN_CREATE data\nIN_DELETE hints.1", KNOWN)
    assert outcomes == []


def test_discovered_at_start_up_records_nothing() -> None:
    state, outcomes = discovered({"README", "config", "index.7", "lock.exclusive"}, new=False)
    assert outcomes == ()
    assert state == RepoState(exclusive=True, session=True, index=7, created=True)
    state, outcomes = discovered(set(), new=False)
    assert outcomes == () and not state.created


def test_discovered_while_running_is_a_creation() -> None:
    _, outcomes = discovered({"README", "config", "data", "index.1"}, new=True)
    assert outcomes == (Outcome("created"),)
    _, outcomes = discovered(set(), new=True)
    assert outcomes == ()  # an empty directory: borg init has not written anything yet
    state, outcomes = discovered({"README", "lock.exclusive", "lock.roster"}, new=True)
    assert outcomes == (Outcome("created"), Outcome("opened")) and state.session


def test_removed_closes_an_open_session_first() -> None:
    assert removed(KNOWN) == (Outcome("deleted", "repository directory removed"),)
    state, _ = classify(KNOWN, Change(Action.APPEARED, "lock.exclusive"))
    assert [o.kind for o in removed(state)] == ["closed", "deleted"]


def test_resynchronised_after_lost_events() -> None:
    # commits happened and the lock came and went while events were lost
    state, outcomes = resynchronised(KNOWN, {"README", "config", "index.9"})
    assert outcomes == (Outcome("opened"), Outcome("updated", "1 commit"), Outcome("closed"))
    assert state.index == 9 and not state.session
    # a session was open and its lock is gone
    opened, _ = classify(KNOWN, Change(Action.APPEARED, "lock.exclusive"))
    _, outcomes = resynchronised(opened, {"README", "config", "index.1"})
    assert outcomes == (Outcome("closed"),)
    # nothing changed
    assert resynchronised(KNOWN, {"README", "config", "index.1"}) == (KNOWN, ())
    # the repository was initialised in an existing directory
    _, outcomes = resynchronised(RepoState(), {"README", "config"})
    assert outcomes == (Outcome("created"),)
