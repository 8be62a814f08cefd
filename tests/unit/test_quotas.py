"""The smallest storage quota: what borg serve accepts (10M, decimal), whatever way the
size was written."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from borghive.errors import InvalidInputError
from borghive.rules.quantities import parse_size
from borghive.rules.quotas import MIN_STORAGE_QUOTA, check_quota, quota_problem


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        ("10M", True),
        ("10000000", True),
        ("0.01G", True),
        ("10000K", True),
        ("9.999999M", False),
        ("9999999", False),
        ("9.9M", False),
        ("1M", False),
        ("1", False),
    ],
)
def test_the_boundary_is_borgs(text: str, accepted: bool) -> None:
    size = parse_size(text)
    assert (quota_problem(size) is None) is accepted
    if accepted:
        assert check_quota(size) == size
    else:
        with pytest.raises(InvalidInputError, match="borg serve refuses a storage quota below"):
            check_quota(size)


@given(st.integers(min_value=1, max_value=10**18))
@example(MIN_STORAGE_QUOTA - 1)
@example(MIN_STORAGE_QUOTA)
def test_refused_exactly_below_ten_megabytes(size: int) -> None:
    refused = quota_problem(size) is not None
    assert refused is (size < 10_000_000)


@given(
    st.decimals(min_value="0.000001", max_value="999", places=6),
    st.sampled_from(["", "K", "M", "G", "k", "m"]),
)
def test_any_written_size_is_judged_by_its_bytes(number: object, unit: str) -> None:
    text = f"{number}{unit}"
    try:
        size = parse_size(text)
    except InvalidInputError:
        return  # below one byte: refused by the parser already
    try:
        check_quota(size)
    except InvalidInputError as error:
        assert size < MIN_STORAGE_QUOTA
        assert error.message.startswith("invalid quota ")
        assert error.hint == "give at least 10M"
    else:
        assert size >= MIN_STORAGE_QUOTA
