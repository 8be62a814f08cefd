"""The URL rule (:mod:`borghive.rules.urls`): every part checked, credentials never shown,
nothing but UrlError raised, whatever the text."""

from __future__ import annotations

import ipaddress
import string
import urllib.parse

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from borghive.rules.urls import (
    HTTP_SCHEMES,
    UrlError,
    host_problem,
    parse_url,
    redact,
    scrub,
)

label = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True).filter(
    lambda text: not text.isdigit()
)
dns_name = st.lists(label, min_size=1, max_size=4).map(".".join)
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(lambda address: f"[{address}]")
host = st.one_of(dns_name, ipv4, ipv6)
port = st.integers(1, 65535)
path = st.text(alphabet=string.ascii_letters + string.digits + "/-._~%!$&'()*+,;=:@", max_size=40)
path = path.map(lambda text: "/" + text)
query = st.text(alphabet=string.ascii_letters + string.digits + "=&-_", max_size=20)
# Credentials as a client writes them: percent-encoded where they need it.
secret = st.text(alphabet=string.ascii_letters + string.digits, min_size=8, max_size=20)
user = st.text(alphabet=string.ascii_letters + string.digits + "-._", min_size=1, max_size=12)
PLAIN: dict[str, object] = {
    "scheme": "http",
    "port": None,
    "path": "/",
    "tail": "",
    "username": None,
    "password": None,
}
# What may never appear in a URL: whitespace, control characters, non-ASCII.
forbidden = st.one_of(
    st.sampled_from(" \t\r\n\x00\x0b\x0c\x7f\x85\xa0\u2028"),
    st.characters(min_codepoint=0x80),
    st.characters(max_codepoint=0x1F),
)


@st.composite
def urls(draw: st.DrawFn, credentials: bool | None = None) -> tuple[str, dict[str, object]]:
    """A valid http(s) URL and its parts."""
    parts: dict[str, object] = {
        "scheme": draw(st.sampled_from(HTTP_SCHEMES)),
        "host": draw(host),
        "port": draw(st.none() | port),
        "path": draw(st.just("") | path),
        "tail": draw(st.just("") | query.map(lambda text: "?" + text)),
        "username": None,
        "password": None,
    }
    if draw(st.booleans()) if credentials is None else credentials:
        parts["username"], parts["password"] = draw(user), draw(secret)
    return build(parts), parts


def build(parts: dict[str, object], port_text: str | None = None) -> str:
    """The URL of ``parts``, with ``port_text`` (when given) in place of the port."""
    userinfo = "" if parts["username"] is None else f"{parts['username']}:{parts['password']}@"
    if port_text is None and parts["port"] is not None:
        port_text = str(parts["port"])
    hostport = str(parts["host"]) + ("" if port_text is None else f":{port_text}")
    return f"{parts['scheme']}://{userinfo}{hostport}{parts['path']}{parts['tail']}"


@given(urls())
def test_a_valid_url_parses_into_its_parts(case: tuple[str, dict[str, object]]) -> None:
    text, parts = case
    url = parse_url(text, HTTP_SCHEMES)
    assert url.scheme == parts["scheme"]
    assert url.host == str(parts["host"]).strip("[]")
    assert url.port == parts["port"]
    assert url.path == parts["path"] and url.tail == parts["tail"]
    assert url.username == parts["username"] and url.password == parts["password"]
    # The standard library reads the same host and port.
    split = urllib.parse.urlsplit(text)
    assert split.hostname == url.host.lower() and split.port == url.port
    if not url.has_credentials:
        assert url.shown() == url.without_credentials() == text


@given(urls(credentials=True))
def test_credentials_are_detected_and_never_shown(case: tuple[str, dict[str, object]]) -> None:
    text, parts = case
    url = parse_url(text, HTTP_SCHEMES)
    assert url.has_credentials
    password = str(parts["password"])
    assume(password not in url.without_credentials())  # not by chance in the path too
    for shown in (url.shown(), url.without_credentials(), redact(text), scrub(f"at {text}: no")):
        assert password not in shown
    assert url.shown() == redact(text)
    assert url.shown().startswith(f"{url.scheme}://***@")
    assert "@" not in url.without_credentials().split("/", 3)[2]


@given(urls(), st.one_of(st.integers(max_value=0), st.integers(min_value=65536)))
def test_a_port_outside_1_to_65535_is_refused(
    case: tuple[str, dict[str, object]], number: int
) -> None:
    with pytest.raises(UrlError, match="port"):
        parse_url(build(case[1], str(number)), HTTP_SCHEMES)


@given(urls(), st.text(alphabet=string.printable.strip(), max_size=8))
@example(("http://host/", {**PLAIN, "host": "host"}), "abc")
@example(("http://host/", {**PLAIN, "host": "host"}), "+80")
@example(("http://host/", {**PLAIN, "host": "host"}), "")
@example(("http://host/", {**PLAIN, "host": "host"}), "0x50")
@example(("http://host/", {**PLAIN, "host": "host"}), "\uff18\uff10")  # digits, but not ASCII ones
def test_a_port_that_is_not_digits_is_refused(
    case: tuple[str, dict[str, object]], port_text: str
) -> None:
    assume(
        not (port_text.isascii() and port_text.isdigit())
        and not any(c in port_text for c in "/?#@")
    )  # with "@" the text before it is a user name and password, not a host and port
    with pytest.raises(UrlError):
        parse_url(build(case[1], port_text), HTTP_SCHEMES)


@given(urls(), st.data())
def test_whitespace_control_and_non_ascii_characters_are_refused_anywhere(
    case: tuple[str, dict[str, object]], data: st.DataObject
) -> None:
    text, _ = case
    where = data.draw(st.integers(0, len(text)))
    character = data.draw(forbidden)
    with pytest.raises(UrlError, match="space, a control character or non-ASCII"):
        parse_url(text[:where] + character + text[where:], HTTP_SCHEMES)


@given(st.text(max_size=300))
@example("http://host:abc/")
@example("https://x:99999/")
@example("http://[::1/")
@example("http://[::1]x/")
@example("http://a@b@c/")
@example("http://:80/")
@example("http://host:/")
@example("http:///path")
@example("file:///etc/passwd")
@example("http://999.1.1.1/")
def test_any_text_parses_or_raises_url_error_only(text: str) -> None:
    try:
        url = parse_url(text, HTTP_SCHEMES)
    except UrlError as exc:
        assert exc.reason and "\n" not in exc.reason
        return
    assert url.scheme in HTTP_SCHEMES and url.host
    assert url.port is None or 1 <= url.port <= 65535
    assert all("!" <= c <= "~" for c in text)


@given(urls(credentials=True), st.sampled_from(["abc", "99999", "0", " ", "\n", "x@y"]))
def test_the_reason_of_a_refusal_never_repeats_the_password(
    case: tuple[str, dict[str, object]], damage: str
) -> None:
    text, parts = case
    assume(str(parts["password"]) not in parse_url(text, HTTP_SCHEMES).without_credentials())
    bad = build(parts, damage)
    with pytest.raises(UrlError) as caught:
        parse_url(bad, HTTP_SCHEMES)
    # A password that is a word of the message itself ("password") proves nothing.
    with pytest.raises(UrlError) as reference:
        parse_url(build({**parts, "password": "Zq9Zq9Zq9"}, damage), HTTP_SCHEMES)
    assume(str(parts["password"]) not in reference.value.reason)
    assert str(parts["password"]) not in caught.value.reason
    assert str(parts["password"]) not in redact(bad)


def test_the_scheme_is_one_the_use_allows() -> None:
    assert parse_url("HTTPS://Example.org/", HTTP_SCHEMES).scheme == "https"
    for text in ("ftp://example.org/", "example.org", "//example.org/", "javascript:x"):
        with pytest.raises(UrlError, match="expected http:// or https://"):
            parse_url(text, HTTP_SCHEMES)
    assert parse_url("ldap:///", ("ldap",), host_required=False).host == ""
    with pytest.raises(UrlError, match="no host"):
        parse_url("http:///path", HTTP_SCHEMES)


def test_private_and_loopback_hosts_are_allowed() -> None:
    for text in (
        "http://127.0.0.1:8080/message",
        "http://[::1]:2586/alerts",
        "https://10.0.0.5/hook",
        "http://192.168.1.2/",
        "http://localhost:80/",
        "http://ntfy/",
    ):
        assert parse_url(text, HTTP_SCHEMES).host


@given(host)
def test_a_host_name_or_address_has_no_problem(name: str) -> None:
    assert host_problem(name) is None


@given(host, st.data())
def test_a_host_with_any_other_character_has_a_problem(name: str, data: st.DataObject) -> None:
    character = data.draw(forbidden | st.sampled_from(list(" /:@?#'\";|&$`\\<>()*,!%=+~^{}")))
    where = data.draw(st.integers(0, len(name)))
    changed = name[:where] + character + name[where:]
    if changed.startswith("[") and changed.endswith("]"):
        try:  # a character that keeps an IPv6 address valid ("::" for ":") is fine
            ipaddress.IPv6Address(changed[1:-1])
            return
        except ValueError:
            pass
    assert host_problem(changed) is not None


def test_host_problems_name_the_rule() -> None:
    assert host_problem("backup.example.org.") is None
    assert "IPv4" in (host_problem("300.1.1.1") or "")
    assert "IPv6" in (host_problem("[::g]") or "")
    assert host_problem("::1") is not None  # unbracketed: would break ssh://user@HOST:PORT
    assert host_problem("a" * 64) is not None and host_problem("a." * 127 + "a") is not None
    assert host_problem("-oProxyCommand=x") is not None


def test_redact_and_scrub_also_work_on_text_that_does_not_parse() -> None:
    assert redact("http://user:p@ss w0rd@host:abc/x") == "http://***@host:abc/x"
    assert redact("user:secret@host") == "***@host"
    assert redact("https://host/path@x") == "https://host/path@x"
    assert scrub("POST https://u:pw@h/x failed, see http://a:b@c") == (
        "POST https://***@h/x failed, see http://***@c"
    )
