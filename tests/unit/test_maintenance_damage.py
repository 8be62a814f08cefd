"""Parsing what ``borg check --repository-only`` says is damaged (messages of borg 1.2.4
as printed for a byte flipped in a real segment, and borg 1.4's forms)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from borghive.service.maintenance.damage import parse_check_output

BORG_12_FLIPPED = """\
Starting repository check
Data integrity error: Segment entry checksum mismatch [segment 2, offset 8]
finished segment check at segment 18
Starting repository index check
Index object count mismatch.
committed index: 4 objects
rebuilt index:   2 objects
ID: e7d4240c4d6b388c6512457ec9e4f6d755c5b35181a40049bd85490ae04ebd13 rebuilt index: \
<not found>      committed index: (2, 3000092)
Finished full repository check, errors found.
"""


def test_the_flipped_segment_is_named() -> None:
    findings = parse_check_output(BORG_12_FLIPPED)
    assert findings.segments == (2,)
    assert findings.problems[0] == (
        "Data integrity error: Segment entry checksum mismatch [segment 2, offset 8]"
    )
    assert "Index object count mismatch." in findings.problems
    assert findings.summary().startswith("damaged segments 2; Data integrity error")


def test_other_segment_messages() -> None:
    text = (
        "Error reading segment 17\n"
        "Segment 41 is not a valid segment file\n"
        "Data integrity error: Invalid segment entry size 0 - too small [segment 9, offset 0]\n"
        "finished segment check at segment 41\n"
    )
    assert parse_check_output(text).segments == (9, 17, 41)


def test_a_clean_check_names_nothing() -> None:
    text = "Starting repository check\nfinished segment check at segment 18\n"
    findings = parse_check_output(text)
    assert findings.segments == () and findings.problems == ()
    assert findings.summary() == "errors found (borg named none)"


@given(st.text(max_size=2000))
def test_any_output_parses_without_error_and_stays_printable(text: str) -> None:
    findings = parse_check_output(text)
    assert all(line.isprintable() and len(line) <= 200 for line in findings.problems)
    assert list(findings.segments) == sorted(set(findings.segments))


@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=20), st.text(max_size=200))
def test_every_located_segment_is_found(numbers: list[int], noise: str) -> None:
    noise = noise.replace("[", "(").replace("\n", " ")
    lines = [f"Data integrity error: x [segment {n}, offset {n % 7}]" for n in numbers]
    findings = parse_check_output("\n".join([noise, *lines]))
    assert set(numbers) <= set(findings.segments)
