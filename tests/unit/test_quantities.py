"""Sizes and durations as people write them: parse_size, format_size, parse_duration,
format_duration."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from borghive.errors import InvalidInputError
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
