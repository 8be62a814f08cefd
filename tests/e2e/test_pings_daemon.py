"""``borghive pings`` as a subprocess on a real SQLite and PostgreSQL store, pinged by curl
and by raw sockets: what it answers, what it stores, and what it refuses."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import socket
import string
import subprocess
import threading
import time
from typing import Any

import pytest

from tests.harness.environment import borghive_command
from tests.harness.pings import PingsProcess, PingsSite, rss_kib
from tests.harness.watch import locked_by_another_process, wait_for

pytestmark = pytest.mark.e2e

RID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


def curl(*args: str) -> tuple[int, str]:
    """(HTTP status, body) of one curl call."""
    done = subprocess.run(
        ["curl", "-sS", "-m", "10", "-w", "\n%{http_code}", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    body, _, status = done.stdout.rpartition("\n")
    return int(status), body


def stored(site: PingsSite, count: int) -> list[dict[str, Any]]:
    wait_for(lambda: len(site.reports()) >= count, 20, f"{count} reports")
    time.sleep(0.2)  # nothing more arrives
    reports = site.reports()
    assert len(reports) == count, reports
    return reports


def test_curl_pings_are_stored_with_durations_and_events(
    pings_site: PingsSite, ping_token: str, pinger: PingsProcess, tmp_path: Any
) -> None:
    site, token = pings_site, ping_token
    log = tmp_path / "log.txt"
    log.write_bytes(b"borgmatic says\nline two\n")
    assert curl(site.url(token, f"/start?rid={RID}")) == (200, "OK")
    time.sleep(0.3)
    assert curl("--data-binary", f"@{log}", site.url(token, f"?rid={RID}")) == (200, "OK")
    assert curl(site.url(token, "/start")) == (200, "OK")
    time.sleep(0.3)
    assert curl(site.url(token, "/1")) == (200, "OK")
    assert curl("-X", "POST", "--data-binary", "oops", site.url(token, "/fail")) == (200, "OK")
    assert curl("--data-binary", "a log line", site.url(token, "/log")) == (200, "OK")
    status, head = curl("-I", site.url(token, "/0"))
    assert status == 200
    assert head.endswith("content-length: 2\r\nconnection: close\r\n\r\n".replace("\r", ""))
    reports = stored(site, 7)
    summary = [(r["kind"], r["run_id"], r["exit_status"], r["body"]) for r in reports]
    assert summary == [
        ("start", RID, None, ""),
        ("success", RID, 0, "borgmatic says\nline two\n"),
        ("start", None, None, ""),
        ("fail", None, 1, ""),
        ("fail", None, None, "oops"),
        ("log", None, None, "a log line"),
        ("success", None, 0, ""),
    ]
    assert {r["source"] for r in reports} == {"127.0.0.1"}
    assert not any(r["body_truncated"] for r in reports)
    durations = [r["duration"] for r in reports]
    assert durations[1] is not None and 0.25 < durations[1] < 5
    assert durations[3] is not None and 0.25 < durations[3] < 5
    # The fail after the fail, and the success after it, have no start of their own.
    assert durations[4] is None and durations[6] is None
    kinds = [kind for kind, _ in site.events()]
    assert kinds == [
        "client-start",
        "client-success",
        "client-start",
        "client-fail",
        "client-fail",
        "client-success",
    ]
    assert site.events()[3][1].startswith("exit status 1, took ")


def test_unknown_tokens_and_bad_routes_write_nothing(
    pings_site: PingsSite, ping_token: str, pinger: PingsProcess
) -> None:
    site, token = pings_site, ping_token
    other = "B" * 43
    assert curl(site.url(other)) == (404, "not found")
    assert curl(site.url(token[:-1])) == (404, "not found")
    assert curl(site.url(token, "/256"))[0] == 400
    assert curl(site.url(token, "/-1"))[0] == 404
    assert curl(site.url(token, "/abc"))[0] == 404
    assert curl(site.url(token, "?rid=" + "a" * 200))[0] == 400
    assert curl(site.url(token, "?rid=" + RID + "%0A"))[0] == 400
    assert curl(site.url(token, "?rid=" + RID + "%00"))[0] == 400
    assert curl("-X", "PUT", site.url(token))[0] == 405
    time.sleep(1)
    assert site.reports() == []
    assert site.events() == []
    assert pinger.stop() == 0
    text = pinger.text()
    assert "unknown tokens" in text
    assert token not in text and other not in text


def test_bodies_are_cut_and_large_requests_refused(pings_site: PingsSite, tmp_path: Any) -> None:
    site = pings_site
    site.write(body_limit=1000, request_limit=100_000)
    token = site.add_repository("alice", "laptop")
    daemon = PingsProcess(site)
    try:
        big = tmp_path / "big"
        big.write_bytes(b"x" * 50_000)
        assert curl("--data-binary", f"@{big}", site.url(token, "/log")) == (200, "OK")
        (report,) = stored(site, 1)
        assert report["body"] == "x" * 1000
        assert report["body_truncated"] is True
        before = rss_kib(daemon.pid)
        huge = tmp_path / "huge"
        huge.write_bytes(b"y" * 5_000_000)
        for _ in range(5):  # announced past request_limit
            assert curl("--data-binary", f"@{huge}", site.url(token, "/log"))[0] == 413
        for _ in range(5):  # chunked: refused once past it, without holding it all
            status, _ = curl(
                "-H",
                "Transfer-Encoding: chunked",
                "--data-binary",
                f"@{huge}",
                site.url(token, "/log"),
            )
            assert status == 413
        assert rss_kib(daemon.pid) - before < 20_000
        assert curl(site.url(token)) == (200, "OK")
        assert len(stored(site, 2)) == 2
    finally:
        assert daemon.stop() == 0, daemon.text()
    assert "Traceback" not in daemon.text()


def _raw(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def _dropped_after(port: int, head: bytes, body: bytes = b"") -> float:
    """Seconds until the server closes a connection that sends ``body`` one byte a second
    after ``head``."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), 30) as sock:
        sock.sendall(head)
        for byte in body:
            try:
                sock.sendall(bytes([byte]))
                time.sleep(1)
                sock.setblocking(False)
                try:
                    if sock.recv(1) == b"":
                        break
                except BlockingIOError:
                    pass
                finally:
                    sock.setblocking(True)
            except OSError:
                break
            if time.monotonic() - started > 25:
                raise AssertionError("still connected after 25 s")
    return time.monotonic() - started


def test_slow_senders_are_dropped_while_others_are_answered(
    pings_site: PingsSite, ping_token: str, pinger: PingsProcess
) -> None:
    site, token = pings_site, ping_token
    results: dict[str, float] = {}

    def slow_head() -> None:
        request = f"GET /ping/{token} HTTP/1.1\r\nHost: x\r\nX-Pad: {'a' * 60}\r\n\r\n".encode()
        results["head"] = _dropped_after(site.port, b"", request)

    def slow_body() -> None:
        head = f"POST /ping/{token}/log HTTP/1.1\r\nHost: x\r\nContent-Length: 60\r\n\r\n"
        results["body"] = _dropped_after(site.port, head.encode(), b"b" * 60)

    threads = [threading.Thread(target=slow_head), threading.Thread(target=slow_body)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    started = time.monotonic()
    for _ in range(10):
        assert curl(site.url(token, "/start")) == (200, "OK")
    assert time.monotonic() - started < 5
    for thread in threads:
        thread.join()
    # header_timeout and body_timeout are 2 s in the harness's configuration.
    assert 1.5 < results["head"] < 6, results
    assert 1.5 < results["body"] < 6, results
    reports = stored(site, 10)
    assert {r["kind"] for r in reports} == {"start"}


async def _random_paths(port: int, count: int, seed: int) -> list[int]:
    generator = random.Random(seed)  # noqa: S311 - reproducible paths, not secrets
    alphabet = string.ascii_letters + string.digits + "-_/.%?=&~"
    statuses: list[int] = []
    semaphore = asyncio.Semaphore(32)

    async def one(path: str) -> None:
        async with semaphore:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            answer = await reader.read()
            writer.close()
            statuses.append(int(answer.split(b" ", 2)[1]) if answer else 0)

    paths = []
    for _ in range(count):
        body = "".join(generator.choice(alphabet) for _ in range(generator.randint(0, 120)))
        paths.append(generator.choice(["/ping/", "/", "/ping/x/", "/ping//"]) + body)
    await asyncio.gather(*(one(path) for path in paths))
    return statuses


def test_ten_thousand_random_paths(
    pings_site: PingsSite, ping_token: str, pinger: PingsProcess
) -> None:
    site, token = pings_site, ping_token
    asyncio.run(_random_paths(site.port, 500, 1))  # warm up
    before = rss_kib(pinger.pid)
    statuses = asyncio.run(_random_paths(site.port, 10_000, 2))
    assert len(statuses) == 10_000
    assert set(statuses) <= {400, 404, 414}, set(statuses)
    assert rss_kib(pinger.pid) - before < 5_000
    assert site.reports() == []
    assert curl(site.url(token)) == (200, "OK")
    assert len(stored(site, 1)) == 1


def test_connection_cap(pings_site: PingsSite) -> None:
    site = pings_site
    site.write(max_connections=2, header_timeout=20.0)
    token = site.add_repository("alice", "laptop")
    daemon = PingsProcess(site)
    time.sleep(0.5)  # the harness's port probe is done with
    try:
        idle = [socket.create_connection(("127.0.0.1", site.port)) for _ in range(2)]
        for sock in idle:
            sock.sendall(b"G")
        time.sleep(0.3)
        assert curl(site.url(token)) == (503, "busy")
        for sock in idle:
            sock.close()
        wait_for(lambda: curl(site.url(token)) == (200, "OK"), 10, "room again")
    finally:
        assert daemon.stop() == 0, daemon.text()


def test_forwarded_for_only_from_trusted_proxies(pings_site: PingsSite) -> None:
    site = pings_site
    token = site.add_repository("alice", "laptop")
    header = "X-Forwarded-For: 203.0.113.9, 198.51.100.7"
    daemon = PingsProcess(site)
    try:
        assert curl("-H", header, site.url(token)) == (200, "OK")
        stored(site, 1)
    finally:
        assert daemon.stop() == 0
    site.write(trusted_proxies="127.0.0.1, 10.0.0.0/8")
    daemon = PingsProcess(site)
    try:
        assert curl("-H", header, site.url(token)) == (200, "OK")
        assert curl("-H", "X-Forwarded-For: 203.0.113.9, 10.1.2.3", site.url(token)) == (
            200,
            "OK",
        )
        assert curl("-H", "X-Forwarded-For: garbage", site.url(token)) == (200, "OK")
        sources = [r["source"] for r in stored(site, 4)]
    finally:
        assert daemon.stop() == 0
    assert sources == ["127.0.0.1", "198.51.100.7", "203.0.113.9", "127.0.0.1"]


def test_rotated_tokens_stop_working_and_reload(
    pings_site: PingsSite, ping_token: str, pinger: PingsProcess
) -> None:
    site, old = pings_site, ping_token
    assert curl(site.url(old)) == (200, "OK")
    done = subprocess.run(
        [
            borghive_command(),
            "--config",
            str(site.config_file),
            "repo",
            "ping-url",
            "alice/laptop",
            "--rotate",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    new_url = json.loads(done.stdout)["url"]
    assert new_url.startswith(f"http://127.0.0.1:{site.port}/ping/") and old not in new_url
    started = time.monotonic()
    wait_for(lambda: curl(site.url(old))[0] == 404, 8, "the old token to stop working")
    assert time.monotonic() - started < 6.5  # the reload interval, without a signal
    assert curl(new_url) == (200, "OK")
    # A repository made now works at once after SIGHUP.
    newer = site.add_repository("alice", "desktop")
    pinger.signal(signal.SIGHUP)
    wait_for(lambda: "reloaded" in pinger.text(), 5, "the reload")
    time.sleep(0.2)
    assert curl(site.url(newer)) == (200, "OK")


def test_keeps_the_newest_reports_per_repository(pings_site: PingsSite) -> None:
    site = pings_site
    site.write(keep_reports=5)
    first = site.add_repository("alice", "laptop")
    second = site.add_repository("alice", "desktop")
    daemon = PingsProcess(site)
    try:
        for n in range(12):
            assert curl("--data-binary", str(n), site.url(first, "/log")) == (200, "OK")
        assert curl(site.url(second)) == (200, "OK")
        wait_for(lambda: any(r["body"] == "11" for r in site.reports()), 10, "the last")
    finally:
        assert daemon.stop() == 0
    reports = site.reports()
    assert [r["body"] for r in reports if r["name"] == "laptop"] == ["7", "8", "9", "10", "11"]
    assert len([r for r in reports if r["name"] == "desktop"]) == 1


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_store_outage_is_spooled_and_written_at_the_next_start(pings_site: PingsSite) -> None:
    """While another process holds SQLite's write lock the daemon still answers at once;
    stopped then, it spools what it holds, and the next start writes it."""
    from borghive.login.storeurl import sqlite_path

    site = pings_site
    token = site.add_repository("alice", "laptop")
    path = sqlite_path(site.config.store.url)
    assert path is not None
    daemon = PingsProcess(site)
    with locked_by_another_process(path):
        started = time.monotonic()
        for n in range(5):
            assert curl("--data-binary", f"run {n}", site.url(token, "/log")) == (200, "OK")
        assert time.monotonic() - started < 3
        assert daemon.stop() == 0, daemon.text()
        assert site.spool.exists()
    assert "spooled 5 reports" in daemon.text()
    assert site.reports() == []
    daemon = PingsProcess(site)
    try:
        reports = stored(site, 5)
        wait_for(lambda: not site.spool.exists(), 10, "the spool to go")
    finally:
        assert daemon.stop() == 0, daemon.text()
    assert [r["body"] for r in reports] == [f"run {n}" for n in range(5)]
    assert "Traceback" not in daemon.text()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_reports_wait_for_the_store_and_are_written_when_it_is_back(
    pings_site: PingsSite, ping_token: str, pinger: PingsProcess
) -> None:
    from borghive.login.storeurl import sqlite_path

    site, token = pings_site, ping_token
    path = sqlite_path(site.config.store.url)
    assert path is not None
    with locked_by_another_process(path):
        for n in range(3):
            assert curl("--data-binary", f"during {n}", site.url(token, "/log")) == (200, "OK")
        wait_for(lambda: "the store is away" in pinger.text(), 15, "the outage to be logged")
    reports = stored(site, 3)
    assert [r["body"] for r in reports] == [f"during {n}" for n in range(3)]
    wait_for(lambda: "the store is back" in pinger.text(), 10, "the return to be logged")
    assert pinger.text().count("the store is away") == 1
