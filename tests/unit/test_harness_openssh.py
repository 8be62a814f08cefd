"""The test login host configures its sshd for the OpenSSH it finds: the version parser and
the settings text for OpenSSH before and after 9.8 (per-source penalties). The real sshd's
view of that text is tested in tests/e2e/test_sshd_harness.py."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.harness.openssh import parse_version, penalty_settings


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15 3 Sep 2024\n", (9, 2)),
        ("OpenSSH_9.2, OpenSSL 3.0.19 27 Jan 2026\n", (9, 2)),
        ("OpenSSH_10.0p2 Debian-7, OpenSSL 3.5.1 1 Jul 2025\n", (10, 0)),
        ("OpenSSH_9.8p1, LibreSSL 3.3.6\n", (9, 8)),
        ("unknown option -- V\nOpenSSH_8.4p1 Debian-5, OpenSSL 1.1.1n\nusage: sshd", (8, 4)),
        ("", None),
        ("ssh: command not found", None),
        ("Dropbear v2022.83", None),
        ("NotOpenSSH_9.8", None),
    ],
)
def test_parse_version(text: str, version: tuple[int, int] | None) -> None:
    assert parse_version(text) == version


@given(
    st.integers(0, 999),
    st.integers(0, 999),
    # Anything after the minor number but another digit (which would be part of it).
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40).filter(
        lambda suffix: not suffix[:1].isdigit()
    ),
)
def test_parse_version_reads_any_release_after_any_prefix(
    major: int, minor: int, suffix: str
) -> None:
    assert parse_version(f"usage line\nOpenSSH_{major}.{minor}{suffix}") == (major, minor)


@given(st.text(max_size=80).filter(lambda text: "OpenSSH_" not in text))
def test_parse_version_without_openssh_is_none(text: str) -> None:
    assert parse_version(text) is None


@pytest.mark.parametrize("version", [(9, 8), (9, 9), (10, 0), (10, 2), (11, 0)])
def test_penalties_off_from_openssh_9_8(version: tuple[int, int]) -> None:
    assert penalty_settings(version) == "PerSourcePenalties no\n"


@pytest.mark.parametrize("version", [None, (8, 4), (9, 2), (9, 7)])
def test_nothing_for_an_sshd_that_does_not_know_penalties(
    version: tuple[int, int] | None,
) -> None:
    assert penalty_settings(version) == ""
