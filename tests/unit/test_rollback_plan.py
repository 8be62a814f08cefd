"""The pure parts of a rollback: segment ranges and the plan of what moves."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from borghive.errors import RefusedError
from borghive.segments.ranges import from_ranges, missing, to_ranges
from borghive.segments.reader import Transaction
from borghive.service.rollback.plan import is_index_file, plan_rollback


@given(st.sets(st.integers(min_value=0, max_value=5000), max_size=300))
def test_ranges_round_trip(numbers: set[int]) -> None:
    text = to_ranges(numbers)
    assert {n for low, high in from_ranges(text) for n in range(low, high + 1)} == numbers
    assert missing(text, numbers) == []


def test_ranges_read_as_written() -> None:
    assert to_ranges([5, 0, 1, 2, 7, 8, 3]) == "0-3,5,7-8"
    assert missing("0-3,5", [0, 1, 3]) == [2, 5]


@pytest.mark.parametrize("text", ["a", "1-", "-1", "3-1", "1,,2", "1-2-3", "1 ,2"])
def test_bad_ranges_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="segment range"):
        from_ranges(text)


def _transactions(*segments: int) -> list[Transaction]:
    return [Transaction(s, 8, s, 0.0, 1, 0, 100) for s in segments]


def _plan(target: int, recorded: str | None = None) -> object:
    present = list(range(0, 13))
    return plan_rollback(
        "alice/photos",
        target,
        _transactions(2, 5, 9, 12),
        present,
        ["README", "config", "index.12", "hints.12", "integrity.12", "nonce", "index.tmp"],
        recorded,
        {n: f"data/0/{n}" for n in present},
    )


def test_the_plan_moves_later_segments_and_the_index_files() -> None:
    plan = _plan(5, "0-5")
    assert plan.undone == [12, 9]  # type: ignore[attr-defined]
    assert plan.moves == [f"data/0/{n}" for n in range(6, 13)] + [  # type: ignore[attr-defined]
        "hints.12",
        "index.12",
        "integrity.12",
    ]


@pytest.mark.parametrize(
    ("target", "recorded", "words"),
    [
        (6, None, "6 is not a committed transaction (the newest are 12, 9, 5, 2)"),
        (12, None, "already the newest"),
        (5, "0-5,100", "compaction has removed segments 100 that transaction 5 needs"),
    ],
)
def test_refusals_name_the_reason(target: int, recorded: str | None, words: str) -> None:
    with pytest.raises(RefusedError) as refused:
        _plan(target, recorded)
    assert words in refused.value.message


def test_index_files_are_recognised_exactly() -> None:
    assert is_index_file("index.12") and is_index_file("integrity.0")
    assert not is_index_file("index.12.tmp") and not is_index_file("indexes.1")
    assert not is_index_file("index.") and not is_index_file("config")
