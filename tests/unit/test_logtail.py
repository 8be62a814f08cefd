"""The end of a client's log as alerts quote it: bounded, clean, the tail kept."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from borghive.rules.logtail import LIMIT, LINES, log_tail


def _clean(excerpt: str) -> bool:
    return all(
        c == "\n" or (unicodedata.category(c) not in {"Cc", "Cf", "Cs", "Co", "Cn"})
        for c in excerpt
    )


# Any character, with what hostile logs are made of made likely: escapes and their
# brackets, carriage returns, C1 controls, bidirectional overrides, lone surrogates.
_HOSTILE = st.one_of(
    st.characters(exclude_categories=()),
    st.sampled_from(list("\x1b\r\n\t\x07\x9b\x85\u202e\u2028\udc80\ud800[]\\;0m")),
)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_HOSTILE, max_size=5000))
def test_any_text_gives_a_bounded_clean_excerpt(body: str) -> None:
    excerpt, _ = log_tail(body)
    assert len(excerpt.encode("utf-8")) <= LIMIT  # encodable: no lone surrogates
    assert excerpt.count("\n") < LINES
    assert _clean(excerpt)
    assert "\x1b" not in excerpt and "\r" not in excerpt


_PLAIN_LINE = (
    st.text(alphabet="abcdefghij klmnop:/.-0123456789", min_size=1, max_size=60)
    .map(str.strip)
    .filter(bool)
)


@given(st.lists(_PLAIN_LINE, min_size=1, max_size=60))
def test_plain_short_lines_keep_exactly_the_last_twenty(lines: list[str]) -> None:
    excerpt, shortened = log_tail("\n".join(lines) + "\n")
    assert excerpt.split("\n") == lines[-LINES:]
    assert shortened == (len(lines) > LINES)


def test_ansi_escapes_progress_redraws_and_controls_are_removed() -> None:
    body = (
        "\x1b[1;31mError:\x1b[0m repository locked\n"
        "\x1b]0;evil title\x07\x1b]8;;http://x.example/\x1b\\link\x1b]8;;\x1b\\\n"
        "  12% done\r  57% done\r 100% done\r\n"
        "bell\x07 null\x00 del\x7f c1\x9b2J bidi\u202eevil\u202c\n"
        "tab\there\n\n\n"
    )
    excerpt, shortened = log_tail(body)
    assert excerpt.split("\n") == [
        "Error: repository locked",
        "link",
        " 100% done",
        "bell null del c1 bidievil",
        "tab    here",
    ]
    assert not shortened


def test_a_megabyte_of_text_gives_its_last_lines_within_the_limit() -> None:
    body = "".join(f"line {i:07d} " + "x" * 80 + "\n" for i in range(12_000)) + "borg: Error 2\n"
    assert len(body) > 1_000_000
    excerpt, shortened = log_tail(body)
    assert shortened
    assert excerpt.endswith("borg: Error 2")
    assert len(excerpt.encode()) <= LIMIT
    first = excerpt.split("\n")[0]
    assert first.startswith("line ")  # cut at a line's beginning, not inside one
    assert "line 0011999" in excerpt


def test_one_huge_line_is_cut_to_its_end() -> None:
    excerpt, shortened = log_tail("é" * 600_000 + "END")
    assert shortened and excerpt.endswith("END")
    assert len(excerpt.encode()) <= LIMIT


def test_replacement_characters_and_surrogates_from_invalid_utf8() -> None:
    stored = b"ok \xff\xfe bad \xc3\x28\n".decode("utf-8", "replace")
    escaped = b"raw \xff\n".decode("utf-8", "surrogateescape")
    excerpt, _ = log_tail(stored + escaped)
    assert excerpt == "ok \ufffd\ufffd bad \ufffd(\nraw"
    excerpt.encode("utf-8")


def test_empty_and_blank_logs_give_nothing() -> None:
    assert log_tail("") == ("", False)
    assert log_tail("\n\n \r\n\x1b[0m\n") == ("", False)


def test_one_line_flattens_and_bounds_what_a_client_sent() -> None:
    from borghive.rules.logtail import one_line

    assert one_line("run\x1b[2J\n42\x07") == "run 42"
    assert one_line("x" * 100) == "x" * 64
    assert one_line("") == ""
