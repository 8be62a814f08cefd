"""check_name and name_problem: what a user, key or repository may be called."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from borghive.errors import InvalidInputError
from borghive.rules.names import MAX_NAME_LENGTH, check_name, name_problem

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
NAME_ALPHABET = "abcXYZ019._-"


@pytest.mark.parametrize(
    "value",
    [
        "a",
        "Z",
        "0",
        "alice",
        "web-01",
        "db_prod.daily",
        "A1.b2_c3-d4",
        "9lives",
        "a-",
        "a.",
        "x" * 64,
    ],
)
def test_valid_names_are_returned_unchanged(value: str) -> None:
    assert check_name(value, "repository") == value
    assert name_problem(value) is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "empty"),
        ("a/b", "contains '/'"),
        ("/", "contains '/'"),
        ("..", "contains '..'"),
        ("a..b", "contains '..'"),
        ("a\x00b", "contains control characters"),
        ("a\nb", "contains control characters"),
        ("a\x1b[31m", "contains control characters"),
        ("a\x7fb", "contains control characters"),
        ("a b", "contains whitespace"),
        ("-rf", "starts with '-'"),
        ("x" * 65, "longer than 64 characters"),
        ("k\u00e4se", "contains non-ASCII characters"),
        ("backup\U0001f4be", "contains non-ASCII characters"),
    ],
)
def test_refused_names_say_what_is_wrong(value: str, problem: str) -> None:
    assert name_problem(value) == problem
    with pytest.raises(InvalidInputError) as caught:
        check_name(value, "repository")
    assert caught.value.message.startswith("invalid repository name ")
    assert caught.value.message.endswith(f": {problem}")


def test_tab_is_refused_as_a_control_character() -> None:
    # A tab is both whitespace and a control character; either is an honest explanation.
    problem = name_problem("a\tb")
    assert problem is not None
    assert re.search("control characters|whitespace", problem)
    with pytest.raises(InvalidInputError):
        check_name("a\tb", "user")


def test_sixty_four_characters_are_the_limit() -> None:
    assert MAX_NAME_LENGTH == 64
    assert check_name("a" * 64, "key") == "a" * 64
    with pytest.raises(InvalidInputError, match="longer than 64 characters"):
        check_name("a" * 65, "key")


@pytest.mark.parametrize("special", list('*()\\,=+#";<>'))
def test_ldap_special_characters_are_refused(special: str) -> None:
    value = f"ab{special}cd"
    problem = name_problem(value)
    assert problem == (
        "use only letters, digits, '.', '_' and '-', starting with a letter or digit"
    )
    with pytest.raises(InvalidInputError, match="use only letters, digits"):
        check_name(value, "user")


@pytest.mark.parametrize("start", [".", "_"])
def test_names_start_with_a_letter_or_digit(start: str) -> None:
    with pytest.raises(InvalidInputError, match="starting with a letter or digit"):
        check_name(f"{start}hidden", "repository")


def test_error_message_shows_long_input_bounded_and_escaped() -> None:
    value = "\x1b]0;owned\x07" + "x" * 500
    with pytest.raises(InvalidInputError) as caught:
        check_name(value, "repository")
    message = caught.value.message
    assert "\x1b" not in message
    assert "\x07" not in message
    assert len(message) < 150
    assert message.startswith("invalid repository name '\\x1b]0;owned\\x07xxx")


@settings(max_examples=200)
@given(st.text(max_size=80))
@example("a" * 64)
@example("a" * 65)
@example("a..b")
@example("a\n")
@example("-a")
def test_accepted_names_are_always_safe(value: str) -> None:
    try:
        result = check_name(value, "repository")
    except InvalidInputError as error:
        assert error.message.startswith("invalid repository name ")
        assert name_problem(value) is not None
        return
    assert result == value
    assert SAFE_NAME.fullmatch(value)
    assert ".." not in value


@settings(max_examples=200)
@given(st.text(alphabet=NAME_ALPHABET, min_size=1, max_size=70))
def test_names_from_the_safe_alphabet_are_judged_by_the_documented_rule(value: str) -> None:
    expected_valid = bool(SAFE_NAME.fullmatch(value)) and ".." not in value
    assert (name_problem(value) is None) is expected_valid
