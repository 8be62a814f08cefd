"""``borghive repo ping-url``, the ping URL in ``repo create`` and ``repo show``, and
``borghive pings`` refusing to start."""

from __future__ import annotations

import re
import socket
from pathlib import Path

from borghive.store import open_store
from borghive.store.models import Repository
from tests.harness.cli import Cli
from tests.harness.config import config_toml

from .helpers import assert_refused

URL = re.compile(r"http://127\.0\.0\.1:8787/ping/([A-Za-z0-9_-]{43})")


def _token(cli: Cli, name: str) -> str | None:
    with open_store(cli.config.store, readonly=True):
        return Repository.get(Repository.name == name).ping_token  # type: ignore[no-any-return]


def test_create_makes_a_token_and_prints_the_borgmatic_lines(populated: Cli) -> None:
    out = populated.ok("repo", "create", "alice/docs").stdout
    token = _token(populated, "docs")
    assert token is not None and len(token) == 43
    assert (
        f"healthchecks:\n    ping_url: http://127.0.0.1:8787/ping/{token}\n    send_logs: true\n"
        in out
    )
    other = populated.ok("repo", "create", "alice/music").stdout
    assert token not in other


def test_ping_url_shows_rotates_and_makes_tokens(populated: Cli) -> None:
    with open_store(populated.config.store):  # a repository from before tokens existed
        Repository.update(ping_token=None).where(Repository.name == "photos").execute()
    assert "ping url: (none yet" in populated.ok("repo", "show", "alice/photos").stdout
    first = populated.json("repo", "ping-url", "alice/photos")
    assert first["made"] is True and first["repository"] == "alice/photos"
    token = URL.fullmatch(first["url"])
    assert token is not None and token.group(1) == _token(populated, "photos")
    again = populated.json("repo", "ping-url", "alice/photos")
    assert again["url"] == first["url"] and again["made"] is False
    shown = populated.json("repo", "show", "alice/photos")
    assert shown["ping_url"] == first["url"]
    assert f"ping url: {first['url']}" in populated.ok("repo", "show", "alice/photos").stdout
    rotated = populated.json("repo", "ping-url", "alice/photos", "--rotate")
    assert rotated["url"] != first["url"] and rotated["made"] is True
    text = populated.ok("repo", "ping-url", "alice/photos").stdout
    assert text.startswith(rotated["url"] + "\n")
    assert f"ping_url: {rotated['url']}" in text


def test_ping_url_uses_public_url(populated: Cli, tmp_path: Path) -> None:
    populated.config_file.write_text(
        config_toml(populated.config, pings={"public_url": "https://hc.example.org/x/"})
    )
    url = populated.json("repo", "ping-url", "alice/photos")["url"]
    assert re.fullmatch(r"https://hc\.example\.org/x/ping/[A-Za-z0-9_-]{43}", url)


def test_ping_url_of_a_missing_repository(populated: Cli) -> None:
    before = populated.snapshot()
    assert_refused(populated.run("repo", "ping-url", "alice/nothing"), "alice/nothing")
    assert populated.snapshot() == before


def test_pings_refuses_a_port_in_use(populated: Cli) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        populated.config_file.write_text(
            config_toml(populated.config, pings={"port": port, "spool": "/tmp/x.spool"})
        )
        assert_refused(populated.run("pings"), f"127.0.0.1:{port}: Address already in use")


def test_pings_refuses_bad_configuration(populated: Cli) -> None:
    populated.config_file.write_text(
        config_toml(
            populated.config,
            pings={"trusted_proxies": "10.0.0.0/8, nonsense", "request_limit": 0},
        )
    )
    result = populated.run("pings")
    assert result.exit_code == 78
    assert result.stderr.startswith("borghive: error: invalid configuration\n")
    assert "pings.trusted_proxies: 'nonsense' is not an address or network" in result.stderr
    assert "pings.request_limit: must be 1 to 100000000 bytes" in result.stderr
    assert "Traceback" not in result.stderr


def test_pings_that_cannot_listen_still_write_its_spool(populated: Cli, tmp_path: Path) -> None:
    import datetime as dt

    from borghive.pings.spool import write_spool
    from borghive.service.pings.records import Report
    from borghive.store.models import ClientReport

    with open_store(populated.config.store, readonly=True):
        repo_id = Repository.get(Repository.name == "photos").id
    spool = tmp_path / "pings.spool"
    received = dt.datetime(2026, 5, 1, 3, 0)
    write_spool(spool, [Report(repo_id, "success", None, 0, "log", False, "::1", received)])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        populated.config_file.write_text(
            config_toml(populated.config, pings={"port": port, "spool": str(spool)})
        )
        result = populated.run("pings")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-2] == (
        f"borghive: error: pings: cannot listen on 127.0.0.1:{port}: Address already in use"
    )
    assert "Traceback" not in result.stderr
    assert not spool.exists()
    with open_store(populated.config.store, readonly=True):
        (report,) = ClientReport.select()
        assert (report.kind, report.body, report.received) == ("success", "log", received)
