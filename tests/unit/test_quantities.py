"""Sizes and durations as people write them: parse_size, format_size, parse_duration,
format_duration; and the bounds of numbers (rules/bounds.py)."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from borghive.errors import InvalidInputError
from borghive.rules.bounds import (
    DURATION,
    JOBS,
    KEEP_ALL_DAYS,
    SIZE,
    STATS_DELAY,
    TIMEOUT,
    WALK_TIME_LIMIT,
    Bound,
)
from borghive.rules.quantities import (
    MAX_DURATION,
    format_duration,
    format_size,
    parse_duration,
    parse_size,
)

DAY = 86400


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("500M", 500_000_000),
        ("1.5T", 1_500_000_000_000),
        ("2G", 2_000_000_000),
        ("1K", 1_000),
        ("3P", 3_000_000_000_000_000),
        ("1024", 1024),
        ("1", 1),
        ("1024B", 1024),
        ("500MB", 500_000_000),
        ("500m", 500_000_000),
        ("500mb", 500_000_000),
        ("1.5t", 1_500_000_000_000),
        ("2gB", 2_000_000_000),
        ("0.5K", 500),
        ("1.000001G", 1_000_001_000),
        ("  20G \n", 20_000_000_000),
        ("1000P", 10**18),
    ],
)
def test_parse_size_uses_decimal_units(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "expected a number with an optional unit"),
        ("   ", "expected a number with an optional unit"),
        ("-1G", "expected a number with an optional unit"),
        ("1.5.5G", "expected a number with an optional unit"),
        ("abc", "expected a number with an optional unit"),
        ("1Q", "expected a number with an optional unit"),
        ("1KiB", "expected a number with an optional unit"),
        ("1 G", "expected a number with an optional unit"),
        ("G", "expected a number with an optional unit"),
        ("1e9", "expected a number with an optional unit"),
        (".5G", "expected a number with an optional unit"),
        ("0", "must be at least 1 byte"),
        ("0G", "must be at least 1 byte"),
        ("0.0001K", "must be at least 1 byte"),
        ("1001P", "too large"),
        ("999999999999999P", "too large"),
        ("9" * 16, "expected a number with an optional unit"),
    ],
)
def test_parse_size_refuses_with_a_reason(text: str, problem: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_size(text)
    assert caught.value.message.startswith(f"invalid size {text!r}")
    assert problem in caught.value.message


@pytest.mark.parametrize(
    "text",
    [
        "1\u212a",  # KELVIN SIGN, which case-insensitive Unicode matching equates with 'k'
        "\u0665M",  # ARABIC-INDIC DIGIT FIVE
        "\uff15G",  # FULLWIDTH DIGIT FIVE
    ],
)
def test_parse_size_accepts_only_ascii(text: str) -> None:
    with pytest.raises(InvalidInputError, match="invalid size"):
        parse_size(text)


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (None, "-"),
        (0, "0B"),
        (1, "1B"),
        (999, "999B"),
        (1000, "1K"),
        (1500, "1.5K"),
        (500_000_000, "500M"),
        (1_500_000_000, "1.5G"),
        (2_000_000_000_000, "2T"),
        (1_250_000_000_000, "1.2T"),
        (3 * 10**15, "3P"),
        (10**18, "1000P"),
    ],
)
def test_format_size(size: int | None, text: str) -> None:
    assert format_size(size) == text


@settings(max_examples=200)
@given(st.integers(min_value=1, max_value=10**18))
def test_format_size_reparses_close_to_the_original(size: int) -> None:
    # One decimal of the largest unit: off by at most 5 % (rounding 1.05 -> 1.1 at worst).
    shown = format_size(size)
    assert abs(parse_size(shown) - size) <= size * 0.05


@settings(max_examples=200)
@given(st.text(max_size=30))
@example("1\u212a")
@example("\u0665")
@example("1" * 15 + "P")
def test_parse_size_raises_only_invalid_input(text: str) -> None:
    try:
        size = parse_size(text)
    except InvalidInputError as error:
        assert error.message.startswith("invalid size ")
        return
    assert 1 <= size <= 10**18


@settings(max_examples=200)
@given(
    st.from_regex(r"\A[0-9]{1,15}(\.[0-9]{1,6})?[KMGTPkmgtp]?[Bb]?\Z", fullmatch=True),
)
def test_well_formed_sizes_parse_or_are_refused_for_their_magnitude(text: str) -> None:
    try:
        size = parse_size(text)
    except InvalidInputError as error:
        assert "at least 1 byte" in error.message or "too large" in error.message
        return
    assert 1 <= size <= 10**18


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("36h", 36 * 3600),
        ("3d", 3 * DAY),
        ("1w2d", 9 * DAY),
        ("90m", 5400),
        ("45s", 45),
        ("1w1d1h1m1s", 7 * DAY + DAY + 3600 + 60 + 1),
        ("2D", 2 * DAY),
        (" 12H\n", 12 * 3600),
        ("1h30m", 5400),
        ("3650d", 3650 * DAY),
        ("0h1m", 60),
    ],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "expected a number and a unit"),
        ("3", "expected a number and a unit"),
        ("d", "expected a number and a unit"),
        ("-1h", "expected a number and a unit"),
        ("11y", "expected a number and a unit"),
        ("1.5h", "expected a number and a unit"),
        ("1h 30m", "expected a number and a unit"),
        ("3dd", "expected a number and a unit"),
        ("1h-", "expected a number and a unit"),
        ("1234567s", "expected a number and a unit"),
        ("\u0663d", "expected a number and a unit"),  # ARABIC-INDIC DIGIT THREE
        ("0h", "must be longer than zero"),
        ("0w0s", "must be longer than zero"),
        ("3651d", "longer than ten years"),
        ("522w", "longer than ten years"),
    ],
)
def test_parse_duration_refuses_with_a_reason(text: str, problem: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_duration(text)
    assert caught.value.message.startswith(f"invalid duration {text!r}")
    assert problem in caught.value.message


def test_ten_years_is_the_limit() -> None:
    assert MAX_DURATION == 3650 * DAY
    assert parse_duration("3650d") == MAX_DURATION
    with pytest.raises(InvalidInputError, match="longer than ten years"):
        parse_duration("3650d1s")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (0, "0s"),
        (1, "1s"),
        (60, "1m"),
        (5400, "1h30m"),
        (129_600, "1d12h"),
        (9 * DAY, "1w2d"),
        (7 * DAY + DAY + 3600 + 60 + 1, "1w1d1h1m1s"),
        (MAX_DURATION, "521w3d"),
    ],
)
def test_format_duration(seconds: int | None, text: str) -> None:
    assert format_duration(seconds) == text


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=999), st.sampled_from("smhdwSMHDW")),
        min_size=1,
        max_size=5,
    )
)
def test_format_duration_reparses_to_the_same_seconds(parts: list[tuple[int, str]]) -> None:
    text = "".join(f"{number}{unit}" for number, unit in parts)
    try:
        seconds = parse_duration(text)
    except InvalidInputError as error:
        assert "longer than zero" in error.message or "longer than ten years" in error.message
        return
    assert 0 < seconds <= MAX_DURATION
    shown = format_duration(seconds)
    assert parse_duration(shown) == seconds
    assert format_duration(parse_duration(shown)) == shown


@settings(max_examples=200)
@given(st.integers(min_value=1, max_value=MAX_DURATION))
def test_every_duration_up_to_ten_years_round_trips(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@settings(max_examples=200)
@given(st.text(max_size=30))
@example("1\u212a")
@example("\u0663d")
@example("999999w")
def test_parse_duration_raises_only_invalid_input(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except InvalidInputError as error:
        assert error.message.startswith("invalid duration ")
        return
    assert 0 < seconds <= MAX_DURATION


# --- bounds ------------------------------------------------------------------------------


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=999_999), st.sampled_from("smhdw")),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from([WALK_TIME_LIMIT, DURATION, Bound(1, 60, unit="seconds")]),
)
def test_a_duration_never_exceeds_the_bound_it_is_parsed_against(
    parts: list[tuple[int, str]], bound: Bound
) -> None:
    text = "".join(f"{number}{unit}" for number, unit in parts)
    try:
        seconds = parse_duration(text, bound)
    except InvalidInputError as error:
        assert error.message.startswith(f"invalid duration {text!r}: ")
        assert "longer than" in error.message or "longer than zero" in error.message
        return
    assert 0 < seconds <= bound.high


def test_the_walk_time_limit_is_one_day() -> None:
    assert parse_duration("1d", WALK_TIME_LIMIT) == DAY
    assert parse_duration("23h59m60s", WALK_TIME_LIMIT) == DAY
    with pytest.raises(InvalidInputError, match=r"'1d1s': longer than 1d$"):
        parse_duration("1d1s", WALK_TIME_LIMIT)
    assert parse_duration("2d") == 2 * DAY  # other durations keep the ten years


@settings(max_examples=300)
@given(
    st.floats(allow_nan=True, allow_infinity=True) | st.integers(min_value=-(10**30)),
    st.sampled_from([JOBS, KEEP_ALL_DAYS, TIMEOUT, WALK_TIME_LIMIT, STATS_DELAY, SIZE]),
)
def test_a_bound_holds_only_finite_values_inside_it(value: float, bound: Bound) -> None:
    inside = bound.low < value if bound.above_low else bound.low <= value
    expected = math.isfinite(value) and inside and value <= bound.high
    assert bound.holds(value) is expected


def test_bounds_in_words() -> None:
    assert JOBS.words == "0 to 256"
    assert KEEP_ALL_DAYS.words == "1 to 36500 days"
    assert TIMEOUT.words == "greater than 0, at most 3600 seconds"
    assert not TIMEOUT.holds(0) and TIMEOUT.holds(3600) and not TIMEOUT.holds(3600.001)
    assert SIZE.high == 10**18 and DURATION.high == MAX_DURATION


def test_ages_are_whole_minutes_or_seconds_under_one() -> None:
    from borghive.rules.quantities import format_age

    assert format_age(59.9) == "59s"
    assert format_age(61) == "1m"
    assert format_age(3 * 86400 + 3661) == "3d1h1m"
    assert format_age(-5) == "0s"
