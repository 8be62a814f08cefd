"""The pure plan of ``borghive maintain``: what is due, what is skipped and why, and how
first runs are spread over the period."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from borghive.service.maintenance.plan import (
    Defaults,
    RepositoryState,
    due_at,
    offset,
    plan_maintenance,
)

NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
DAY = 86400
DEFAULTS = Defaults(compact_every=7 * DAY, check_every=30 * DAY)


def state(repository_id: int = 1, **changes: object) -> RepositoryState:
    base = RepositoryState(
        id=repository_id,
        shown=f"alice/r{repository_id}",
        mode="borg",
        being_purged=False,
        created=NOW - dt.timedelta(days=100),
        compact_every=None,
        check_every=None,
        last_compact=NOW - dt.timedelta(days=8),
        last_check=NOW - dt.timedelta(days=1),
        append_only=False,
        compact_append_only=False,
        session_open=False,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_due_when_the_last_run_is_older_than_the_default_period() -> None:
    plan = plan_maintenance([state()], DEFAULTS, NOW)
    assert [(s.repository, s.action) for s in plan.steps] == [("alice/r1", "compact")]
    assert plan.not_due == 1  # the check ran yesterday


def test_the_repositorys_own_period_overrides_the_default_and_zero_is_never() -> None:
    plan = plan_maintenance([state(compact_every=10 * DAY)], DEFAULTS, NOW)
    assert plan.steps == ()
    plan = plan_maintenance([state(check_every=3600)], DEFAULTS, NOW)
    assert [s.action for s in plan.steps] == ["compact", "check"]
    plan = plan_maintenance([state(compact_every=0, last_compact=None)], DEFAULTS, NOW)
    assert plan.steps == ()
    never = Defaults(compact_every=0, check_every=0)
    assert plan_maintenance([state(last_compact=None, last_check=None)], never, NOW).steps == ()


def test_blocked_repositories_are_skipped_with_their_reason() -> None:
    cases = {
        "disabled": state(mode="disabled"),
        "being purged": state(being_purged=True),
        "not a borg repository (mode import)": state(mode="import"),
        "append-only (repo set --compact-append-only yes": state(append_only=True),
        "a client session is open": state(session_open=True),
    }
    for reason, repository in cases.items():
        plan = plan_maintenance([repository], DEFAULTS, NOW)
        assert plan.steps == ()
        assert plan.skipped[0].reason.startswith(reason), (reason, plan)


def test_append_only_blocks_only_compaction_and_the_override_lets_it_run() -> None:
    repository = state(append_only=True, check_every=3600)
    plan = plan_maintenance([repository], DEFAULTS, NOW)
    assert [s.action for s in plan.steps] == ["check"]
    assert [s.action for s in plan.skipped] == ["compact"]
    allowed = replace(repository, compact_append_only=True)
    assert [s.action for s in plan_maintenance([allowed], DEFAULTS, NOW).steps] == [
        "compact",
        "check",
    ]


def test_first_runs_of_repositories_created_together_are_spread_over_the_period() -> None:
    created = NOW - dt.timedelta(days=3)
    states = [state(i, created=created, last_compact=None, last_check=NOW) for i in range(1, 1001)]
    plan = plan_maintenance(states, DEFAULTS, NOW)
    # three of seven days have passed: about 3/7 of them are due, not all and not none
    assert 350 < len(plan.steps) < 500
    nights = {due_at(s, "compact", DEFAULTS)[0].date() for s in states}  # type: ignore[union-attr]
    assert len(nights) >= 7


@given(st.integers(1, 10**9), st.sampled_from(["compact", "check"]), st.integers(1, 10**8))
def test_offset_is_stable_and_within_the_period(
    repository_id: int, action: str, period: int
) -> None:
    first = offset(repository_id, action, period)
    assert 0 <= first < period
    assert offset(repository_id, action, period) == first


@given(
    st.lists(
        st.tuples(
            st.integers(0, 60),
            st.one_of(st.none(), st.integers(0, 20)),
            st.booleans(),
        ),
        max_size=30,
    )
)
def test_every_action_is_exactly_one_of_due_skipped_or_not_due(
    rows: list[tuple[int, int | None, bool]],
) -> None:
    states = [
        state(
            i + 1,
            last_compact=None if ago is None else NOW - dt.timedelta(days=ago),
            compact_every=None if days is None else days * DAY,
            session_open=open_,
        )
        for i, (ago, days, open_) in enumerate(rows)
    ]
    plan = plan_maintenance(states, DEFAULTS, NOW)
    assert len(plan.steps) + len(plan.skipped) + plan.not_due == 2 * len(states)
    for step in plan.steps:
        assert step.due_since <= NOW
