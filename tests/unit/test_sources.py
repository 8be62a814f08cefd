"""check_sources (what ``--from`` stores) against the login path's reading of the stored
list: whatever is accepted at input, authkeys accepts at every login. A zone id was
accepted and stored, and then every authorized_keys line of the user refused."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from borghive.errors import InvalidInputError
from borghive.login import lines
from borghive.login.lines import AuthKeysError, Grant, authorized_line
from borghive.rules.sources import (
    MAX_SOURCES,
    SOURCE_CHARACTERS,
    _hex_groups,
    check_sources,
    network_text,
)
from tests.harness.authkeys import settings_for

ed25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBh9PHYA8x9Agk9/Rp1Oyx41wzgsP0JUNs6srW0SYmLG"


def login_reads(stored: str) -> str:
    """The ``from=`` option authkeys writes for a stored list (raises AuthKeysError)."""
    settings = settings_for()
    grant = Grant("photos", "borg", None, "ssh-ed25519", ed25519, "laptop", "full", stored)
    line = authorized_line(settings, "alice", grant)
    assert line is not None
    return line.split('from="', 1)[1].split('"', 1)[0]


def test_the_two_character_sets_agree() -> None:
    assert SOURCE_CHARACTERS <= lines._SOURCE_CHARS


@pytest.mark.parametrize(
    "text", ["fe80::1%eth0", "fe80::1%25", "10.0.0.1,fe80::1%1", "fe80::1%eth0/64"]
)
def test_zone_ids_are_refused_saying_so(text: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        check_sources(text)
    assert (
        "has a zone id (after '%')" in caught.value.message or "not an IP" in caught.value.message
    )


def test_canonical_lists_pass_the_login_path() -> None:
    stored = check_sources("192.0.2.7/24, 2001:DB8::1, ::ffff:192.0.2.1, 10.1.2.3/255.255.0.0")
    assert stored == "192.0.2.0/24,2001:db8::1/128,::ffff:c000:201/128,10.1.0.0/16"
    assert login_reads(stored) == stored


_address_like = st.one_of(
    st.ip_addresses().map(str),
    st.builds(
        lambda address, prefix: f"{address}/{prefix}",
        st.ip_addresses().map(str),
        st.integers(min_value=0, max_value=128),
    ),
    st.builds(
        lambda address, zone: f"{address}%{zone}",
        st.ip_addresses(v=6).map(str),
        st.text(min_size=1, max_size=8),
    ),
    st.text(st.sampled_from("0123456789abcdefABCDEF.:/%, xg\t"), max_size=24),
    st.text(max_size=12),
)


@settings(max_examples=400)
@given(st.lists(_address_like, min_size=1, max_size=5), st.sampled_from([",", ", ", " ,"]))
@example(["fe80::1%eth0"], ",")
@example(["::ffff:1.2.3.4"], ",")
def test_accepted_at_input_means_accepted_at_login(parts: list[str], separator: str) -> None:
    text = separator.join(parts)
    try:
        stored = check_sources(text)
    except InvalidInputError as error:
        assert error.message.startswith("invalid source restriction")
        return
    try:
        assert login_reads(stored) == stored
    except AuthKeysError as error:  # pragma: no cover - the failure this test is for
        pytest.fail(f"{text!r} stored as {stored!r}, refused at login: {error}")
    assert check_sources(stored) == stored  # canonical: storing it again changes nothing
    assert 1 <= len(stored.split(",")) <= MAX_SOURCES
    for entry in stored.split(","):
        ipaddress.ip_network(entry)  # strict: a network address, not a host in one


@given(st.ip_addresses(v=6))
def test_ipv6_text_is_the_same_on_every_python(address: ipaddress.IPv6Address) -> None:
    """Stored lists must not depend on the Python that wrote them: an IPv4-mapped address
    is kept in hexadecimal groups (Python 3.13 would write dotted quads), any other address
    as str() writes it, and the text always reads back as the same address."""
    text = _hex_groups(address.packed)
    assert ipaddress.IPv6Address(text) == address
    assert "." not in text
    if address.ipv4_mapped is None:
        assert text == str(address)
    network = ipaddress.ip_network(f"{address}/128")
    assert network_text(network) == f"{text}/128"
