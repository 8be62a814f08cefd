"""A ``borghive pings`` subprocess on a free port of 127.0.0.1 and a real store, repositories
with ping tokens, and what it stored; fixtures ``pings_site`` (SQLite and PostgreSQL) and
``pinger`` (the running daemon, stopped after the test, which must exit 0 without a
traceback)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from borghive.config import Config
from borghive.rules.accounts import NoAccounts
from borghive.service.repositories import lifecycle as repos
from borghive.service.users import people as users
from borghive.store import open_store
from borghive.store.models import ClientReport, Event, Repository
from tests.harness.config import config_toml
from tests.harness.environment import borghive_command
from tests.harness.net import free_port, wait_for_port


def rss_kib(pid: int) -> int:
    """The resident set of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


@dataclass
class PingsSite:
    """A migrated store, the daemon's configuration file and its port."""

    config: Config
    config_file: Path
    port: int
    log: Path
    spool: Path

    def write(self, **pings: Any) -> None:
        """(Re)write the configuration file with these [pings] keys beside the defaults."""
        values = {
            "listen": "127.0.0.1",
            "port": self.port,
            "spool": str(self.spool),
            "header_timeout": 2.0,
            "body_timeout": 2.0,
            **pings,
        }
        self.config_file.write_text(config_toml(self.config, pings=values))

    def add_repository(self, owner: str, name: str) -> str:
        """A repository in the store (no account); returns its ping token."""
        with open_store(self.config.store):
            with contextlib.suppress(Exception):
                users.add_user(owner)
            created = repos.create_repository(self.config, NoAccounts(), f"{owner}/{name}")
            repo_user = created.repository.repo_user
            token = Repository.get(Repository.repo_user == repo_user).ping_token
        return str(token)

    def url(self, token: str, suffix: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/ping/{token}{suffix}"

    def reports(self) -> list[dict[str, Any]]:
        """Every ClientReport row, oldest first, with its repository's name."""
        with open_store(self.config.store):
            query = (
                ClientReport.select(ClientReport, Repository.name)
                .join(Repository)
                .order_by(ClientReport.id)
                .dicts()
            )
            return list(query)

    def events(self) -> list[tuple[str, str]]:
        """(kind, detail) of every client-* event, oldest first."""
        with open_store(self.config.store):
            query = Event.select(Event.kind, Event.detail).where(Event.kind.startswith("client-"))
            return [(e.kind, e.detail) for e in query.order_by(Event.id)]


class PingsProcess:
    """``borghive --config FILE pings`` in a subprocess; stderr kept in a file."""

    def __init__(self, site: PingsSite, ready: bool = True) -> None:
        self.site = site
        self._stderr = open(site.log, "ab")  # noqa: SIM115 - closed in stop()
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [borghive_command(), "--config", str(site.config_file), "pings"],
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            env={k: v for k, v in os.environ.items() if not k.startswith("BORGHIVE_")},
        )
        if ready:
            wait_for_port(site.port, 30)
            self.ready_after = time.monotonic() - self.started
            assert self.process.poll() is None, self.text()

    @property
    def pid(self) -> int:
        return self.process.pid

    def text(self) -> str:
        return self.site.log.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self, timeout: float = 40.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._stderr.close()
        return code


def site_for(config: Config, tmp_path: Path) -> PingsSite:
    site = PingsSite(
        config=config,
        config_file=tmp_path / "pings.toml",
        port=free_port(),
        log=tmp_path / "pings.log",
        spool=tmp_path / "pings.spool",
    )
    site.write()
    return site


@pytest.fixture
def pings_site(tmp_path: Path, migrated: Config) -> PingsSite:
    """A migrated store (SQLite, PostgreSQL) and a pings configuration at a free port."""
    return site_for(migrated, tmp_path)


@pytest.fixture
def ping_token(pings_site: PingsSite) -> str:
    """The token of the site's repository alice/laptop, made before the daemon starts."""
    return pings_site.add_repository("alice", "laptop")


@pytest.fixture
def pinger(pings_site: PingsSite, ping_token: str) -> Iterator[PingsProcess]:
    process = PingsProcess(pings_site)
    yield process
    code = process.stop()
    assert code == 0, process.text()
    assert "Traceback" not in process.text(), process.text()
