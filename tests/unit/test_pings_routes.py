"""The ping routes, tokens, bodies and the queue of ``borghive pings`` (pure parts)."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from borghive.config import PingsConfig
from borghive.pings.pending import Pending
from borghive.pings.spool import SpoolError, read_spool, remove_spool, write_spool
from borghive.service.pings.records import Report, body_text, event_detail
from borghive.service.pings.routes import Ping, Refusal, parse_ping, run_id
from borghive.service.pings.tokens import TokenIndex, new_token, ping_url

TOKEN = "A" * 43
RID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


@pytest.mark.parametrize(
    ("target", "kind", "status"),
    [
        (f"/ping/{TOKEN}", "success", 0),
        (f"/ping/{TOKEN}/start", "start", None),
        (f"/ping/{TOKEN}/fail", "fail", None),
        (f"/ping/{TOKEN}/log", "log", None),
        (f"/ping/{TOKEN}/0", "success", 0),
        (f"/ping/{TOKEN}/1", "fail", 1),
        (f"/ping/{TOKEN}/255", "fail", 255),
    ],
)
@pytest.mark.parametrize("method", ["GET", "HEAD", "POST"])
def test_routes(method: str, target: str, kind: str, status: int | None) -> None:
    assert parse_ping(method, target) == Ping(TOKEN, kind, status, None)


@pytest.mark.parametrize(
    ("target", "status"),
    [
        (f"/ping/{TOKEN}/256", 400),
        (f"/ping/{TOKEN}/999", 400),
        (f"/ping/{TOKEN}/1000", 404),
        (f"/ping/{TOKEN}/-1", 404),
        (f"/ping/{TOKEN}/+1", 404),
        (f"/ping/{TOKEN}/1.0", 404),
        (f"/ping/{TOKEN}/one", 404),
        (f"/ping/{TOKEN}/start/x", 404),
        (f"/ping/{TOKEN}/", 404),
        ("/ping/", 404),
        ("/ping", 404),
        ("/", 404),
        (f"/pong/{TOKEN}", 404),
        ("/ping/" + "a" * 65, 404),
        ("/ping/a%2Fb", 404),
        ("/ping/" + "a" * 3000, 414),
    ],
)
def test_not_pings(target: str, status: int) -> None:
    with pytest.raises(Refusal) as refused:
        parse_ping("GET", target)
    assert refused.value.status == status
    assert TOKEN not in refused.value.reason


@pytest.mark.parametrize("method", ["PUT", "DELETE", "OPTIONS", "PATCH", "get"])
def test_other_methods(method: str) -> None:
    with pytest.raises(Refusal) as refused:
        parse_ping(method, f"/ping/{TOKEN}")
    assert refused.value.status == 405


def test_run_ids() -> None:
    assert parse_ping("GET", f"/ping/{TOKEN}?rid={RID}").run_id == RID
    assert run_id(f"rid={RID.upper()}") == RID
    assert run_id(f"rid={RID.replace('-', '')}") == RID
    assert run_id("") is None
    assert run_id("rid=") is None
    assert run_id("other=1") is None


@pytest.mark.parametrize(
    "query",
    [
        "rid=abc",
        "rid=" + "a" * 37,
        "rid=" + "0" * 4000,
        f"rid={RID}%00",
        f"rid={RID}%0a",
        f"rid=%0d{RID}",
        f"rid={{{RID}}}",
        f"rid=urn:uuid:{RID}",
        f"rid={RID}&rid={RID}",
        "rid=" + "\x7f" * 36,
    ],
)
def test_bad_run_ids(query: str) -> None:
    with pytest.raises(Refusal) as refused:
        run_id(query)
    assert refused.value.status == 400


@given(st.text(max_size=300), st.sampled_from(["GET", "HEAD", "POST", "PUT"]))
def test_any_target_is_a_ping_or_a_refusal(target: str, method: str) -> None:
    """Whatever the path, the parser answers a Ping with a valid token, kind, status and run
    id, or refuses with a 4xx; it never raises anything else."""
    try:
        ping = parse_ping(method, target)
    except Refusal as refused:
        assert refused.status in (400, 404, 405, 414)
        return
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", ping.token)
    assert ping.kind in ("start", "success", "fail", "log")
    assert ping.exit_status is None or 0 <= ping.exit_status <= 255
    assert ping.run_id is None or str(uuid.UUID(ping.run_id)) == ping.run_id


@given(st.integers(min_value=-(10**6), max_value=10**6))
def test_exit_statuses(status: int) -> None:
    target = f"/ping/{TOKEN}/{status}"
    if 0 <= status <= 255:
        ping = parse_ping("POST", target)
        assert ping.exit_status == status
        assert ping.kind == ("success" if status == 0 else "fail")
    else:
        with pytest.raises(Refusal) as refused:
            parse_ping("POST", target)
        assert refused.value.status in (400, 404)


@given(st.uuids())
def test_any_uuid_is_a_run_id(value: uuid.UUID) -> None:
    assert run_id(f"rid={value}") == str(value)


def test_tokens() -> None:
    tokens = {new_token() for _ in range(1000)}
    assert len(tokens) == 1000
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", t) for t in tokens)  # 256 bits
    first, second = sorted(tokens)[:2]
    index = TokenIndex.of([(1, first), (2, second)])
    assert index.find(first) == 1
    assert index.find(second) == 2
    assert index.find(first[:-1]) is None
    assert index.find(first + "x") is None
    assert index.find("") is None
    assert len(index) == 2


def test_ping_urls() -> None:
    assert ping_url(PingsConfig(), "t") == "http://127.0.0.1:8787/ping/t"
    assert ping_url(PingsConfig(listen="::1", port=9), "t") == "http://[::1]:9/ping/t"
    config = PingsConfig(public_url="https://pings.example.org/hc/")
    assert ping_url(config, "t") == "https://pings.example.org/hc/ping/t"


def test_bodies() -> None:
    assert body_text(b"hello", 10, False) == ("hello", False)
    assert body_text(b"hello", 3, False) == ("hel", True)
    assert body_text(b"hel", 3, True) == ("hel", True)
    # A cut inside a character drops the half; NUL (refused by PostgreSQL) is replaced.
    assert body_text("é".encode() * 3, 5, False) == ("éé", True)
    assert body_text(b"a\x00b\xffc", 100, False) == ("a\ufffdb\ufffdc", False)


@given(st.binary(max_size=400), st.integers(min_value=1, max_value=300))
def test_bodies_are_bounded(data: bytes, limit: int) -> None:
    text, cut = body_text(data, limit, False)
    assert cut == (len(data) > limit)
    assert "\x00" not in text
    assert len(text) <= limit


def _report(body: str = "", repository_id: int = 1) -> Report:
    return Report(
        repository_id, "log", None, None, body, False, "127.0.0.1", dt.datetime(2026, 1, 1)
    )


def test_event_details() -> None:
    report = Report(1, "fail", None, 2, "", False, None, dt.datetime(2026, 1, 1))
    assert event_detail(report, 42.04) == "exit status 2, took 42.0s"
    assert event_detail(report, None) == "exit status 2"
    assert event_detail(_report(), None) == ""


def test_pending_is_bounded_by_count_and_bytes() -> None:
    pending = Pending(limit=3, byte_limit=10)
    for n in range(5):
        pending.add(_report(repository_id=n))
    assert [r.repository_id for r in pending.take(10)] == [2, 3, 4]
    assert pending.dropped == 2
    pending.add(_report("x" * 9))
    assert (len(pending), pending.dropped, pending.bytes) == (3, 3, 9)
    pending.add(_report("y" * 9))  # 18 characters of bodies: the oldest go until 10 hold
    assert [r.body for r in pending.take(10)] == ["y" * 9]
    assert (pending.dropped, pending.bytes) == (6, 9)
    batch = pending.take(1)
    pending.written(batch)
    assert len(pending) == 0
    assert pending.bytes == 0


def test_pending_backs_off() -> None:
    pending = Pending()
    pending.add(_report())
    assert pending.due(0.0)
    assert pending.failed(0.0) == 0.5
    assert not pending.due(0.4)
    assert pending.failed(0.5) == 1.0
    for _ in range(10):
        delay = pending.failed(0.0)
    assert delay == 15.0
    pending.written(pending.take(1))
    assert not pending.due(100.0)


def test_spool_round_trip(tmp_path: pytest.TempPathFactory) -> None:
    path = tmp_path / "dir" / "pings.spool"  # type: ignore[operator]
    assert read_spool(path) == []
    reports = [
        _report("log é\n"),
        Report(2, "fail", RID, 3, "", True, None, dt.datetime(2026, 2, 3, 4, 5, 6, 7)),
    ]
    write_spool(path, reports)
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_spool(path) == reports
    remove_spool(path)
    assert not path.exists()


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"format": 2, "reports": []}',
        '{"format": 1, "reports": [{"repository_id": 1}]}',
        '{"format": 1}',
    ],
)
def test_spool_refuses_other_files(tmp_path: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path / "pings.spool"  # type: ignore[operator]
    path.write_text(text)
    with pytest.raises(SpoolError):
        read_spool(path)
