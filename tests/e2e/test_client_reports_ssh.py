"""Client reports end to end, every piece real: a borgmatic backs up to a borghive repository
over the private sshd (the forced command, ``borg serve``), its healthchecks hook reports
to ``borghive pings`` at the URL ``repo ping-url`` printed, and ``borghive alert check``
tells the owner's webhook what the reports mean: a failure with the log borgmatic sent,
the recovery after a good run, and a run killed while borg was working that never ended.
Last, a hostile client's log (NUL bytes, invalid UTF-8, escape sequences) on SQLite and
PostgreSQL: stored readable, quoted clean.

``pings.run_timeout`` is one second here, so a run that was killed times out at the next
check without waiting six hours.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import unicodedata
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from borghive.config_load import load_config
from borghive.store import open_store
from borghive.store.models import ClientReport, Event, Repository
from tests.e2e.test_borg_login import BorgSite, _ok
from tests.harness.alerts import Web
from tests.harness.borg import BORG, PASSPHRASE
from tests.harness.config import toml_text
from tests.harness.environment import borghive_command, missing_service
from tests.harness.net import free_port
from tests.harness.pings import PingsProcess, PingsSite
from tests.harness.watch import wait_for

pytestmark = pytest.mark.e2e

BORGMATIC = Path(sys.executable).with_name("borgmatic")
RUN_TIMEOUT = 1  # seconds: pings.run_timeout of this module's configuration


class ReportsSite(BorgSite):
    """The login host of :class:`BorgSite` with ``[pings]`` and ``[alerts]`` configured,
    and alice's repositories ``nightly`` and ``hung`` with their ping URLs."""

    def __init__(self, client: Path) -> None:
        super().__init__(client)
        self.pings_port = free_port()
        self.urls: dict[str, str] = {}  # repository name -> its client URL (repo create)
        self.ping_urls: dict[str, str] = {}  # repository name -> its ping URL

    def _config_text(self, port: int) -> str:
        return super()._config_text(port) + toml_text({
            "pings": {
                "listen": "127.0.0.1",
                "port": self.pings_port,
                "spool": str(self.server / "pings.spool"),
                "run_timeout": f"{RUN_TIMEOUT}s",
            },
            "alerts": {"webhook_timeout": 5.0},
        })  # fmt: skip

    def create(self, name: str, *options: str) -> None:
        created = json.loads(self.cli("repo", "create", f"alice/{name}", *options, "--json").stdout)
        self.users[name] = created["repository"]["repo_user"]
        self.uids[name] = created["repository"]["uid_number"]
        self.first_commands[name] = created["client_command"]
        self.urls[name] = created["repository"]["url"]

    def start(self) -> None:
        super().start()
        for name in ("nightly", "hung"):
            self.create(name, "--key", "k1")
            self.init(name, self.k1)
            ping = json.loads(self.cli("repo", "ping-url", f"alice/{name}", "--json").stdout)
            self.ping_urls[name] = ping["url"]

    def pings_site(self) -> PingsSite:
        """The daemon's view of this site, for :class:`PingsProcess` (the file is not
        rewritten: it is this site's whole configuration)."""
        return PingsSite(
            config=load_config(self.config),
            config_file=self.config,
            port=self.pings_port,
            log=self.server / "pings.log",
            spool=self.server / "pings.spool",
        )

    # -- what the store holds ------------------------------------------------------------

    def reports(self, name: str) -> list[dict[str, Any]]:
        """Repository ``name``'s client reports, oldest first."""
        with open_store(load_config(self.config).store):
            query = (
                ClientReport.select()
                .join(Repository)
                .where(Repository.repo_user == self.users[name])
                .order_by(ClientReport.id)
                .dicts()
            )
            return list(query)

    def events(self, name: str) -> list[str]:
        """The kinds of repository ``name``'s client-* events, oldest first."""
        with open_store(load_config(self.config).store):
            query = (
                Event.select(Event.kind)
                .join(Repository)
                .where(Repository.repo_user == self.users[name], Event.kind.startswith("client-"))
                .order_by(Event.id)
            )
            return [event.kind for event in query]

    # -- the client ----------------------------------------------------------------------

    def borgmatic_config(self, name: str, source: Path, **options: Any) -> Path:
        """A borgmatic configuration backing ``source`` up to repository ``name`` over this
        site's sshd with key k1, reporting to its ping URL with the log; ``options`` are
        more top-level keys. JSON strings are YAML strings."""
        assert self.host is not None
        values: dict[str, Any] = {
            "source_directories": [str(source)],
            "repositories": [{"path": self.urls[name], "label": name}],
            "encryption_passphrase": PASSPHRASE,
            "ssh_command": shlex.join(self.host.ssh_argv(self.k1)),
            "local_path": BORG,
            "healthchecks": {"ping_url": self.ping_urls[name], "send_logs": True},
            **options,
        }
        path = self.client / f"borgmatic-{name}.yaml"
        path.write_text(json.dumps(values, indent=2) + "\n")
        return path

    def borgmatic_argv(self, config: Path) -> tuple[list[str], dict[str, str]]:
        """The command line and environment of ``borgmatic create`` with ``config``."""
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.client),
            "LANG": "C.UTF-8",
            "BORG_BASE_DIR": str(self.client / "borg"),
            # borgmatic's runtime directory: a killed run leaves it behind.
            "TMPDIR": str(self.client),
        }
        argv = [str(BORGMATIC), "--config", str(config), "create", "--verbosity", "1"]
        return argv, environment

    def borgmatic(self, config: Path) -> subprocess.CompletedProcess[str]:
        argv, environment = self.borgmatic_argv(config)
        return subprocess.run(
            argv, env=environment, cwd=self.client, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    # -- the owner's channel -------------------------------------------------------------

    @contextlib.contextmanager
    def webhook(self, web: Web, path: str) -> Iterator[None]:
        """alice's webhook channel aimed at ``web`` for the duration (``web`` lives for one
        test, the site for the module)."""
        self.cli("user", "notify", "add", "alice", "webhook", web.url(path))
        try:
            yield
        finally:
            self.cli("user", "notify", "remove", "alice", "webhook", web.url(path))

    def alert_check(self) -> subprocess.CompletedProcess[str]:
        return self.cli("alert", "check")


@pytest.fixture(scope="module")
def reports_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReportsSite]:
    """The site, its repositories and a running ``borghive pings``; the daemon must stop
    with exit 0 and no traceback."""
    ReportsSite.require()
    if not BORGMATIC.exists() or not Path(BORG).exists():
        missing_service("borgmatic (the test extra) and borg")
    site = ReportsSite(tmp_path_factory.mktemp("client-reports"))
    try:
        site.start()
        process = PingsProcess(site.pings_site())
        try:
            yield site
        finally:
            code = process.stop()
            assert code == 0, process.text()
            assert "Traceback" not in process.text(), process.text()
    finally:
        site.stop()


def _bodies(web: Web, path: str, repository: str, event: str) -> list[dict[str, Any]]:
    return [
        body
        for body in web.bodies(path)
        if body["repository"] == repository and body["event"] == event
    ]


def _kinds(reports: list[dict[str, Any]]) -> list[str]:
    """The kinds of ``reports`` without borgmatic's ``log`` pings, which carry no event."""
    return [r["kind"] for r in reports if r["kind"] != "log"]


def _ended(site: ReportsSite, name: str, count: int) -> list[dict[str, Any]]:
    """Repository ``name``'s reports once the ``count``-th end (success or fail) is in."""

    def ends() -> int:
        return sum(r["kind"] in ("success", "fail") for r in site.reports(name))

    wait_for(lambda: ends() >= count, 20, f"{count} ends of {name}'s runs")
    return site.reports(name)


@pytest.mark.sshd
@pytest.mark.slapd
def test_a_good_run_a_refused_login_and_the_recovery(
    reports_site: ReportsSite, web: Web, tmp_path: Path
) -> None:
    site = reports_site
    source = tmp_path / "source"
    source.mkdir()
    (source / "notes.txt").write_text("backed up over ssh\n")
    config = site.borgmatic_config("nightly", source)

    good = _ok(site.borgmatic(config))
    reports = _ended(site, "nightly", 1)
    assert _kinds(reports) == ["start", "success"], reports
    assert "Creating archive" in reports[-1]["body"], reports[-1]["body"]
    assert reports[-1]["duration"] is not None and 0 < reports[-1]["duration"] < 120
    assert reports[-1]["source"] == "127.0.0.1"
    listing = _ok(site.borg(site.k1, "nightly", "list", "--short")).stdout.split()
    assert len(listing) == 1, (listing, good.stdout)

    # Disabled: authkeys gives sshd no key for the repository user, so borg's login is
    # refused and borgmatic reports the failure with its log.
    site.cli("repo", "set", "alice/nightly", "--mode", "disabled")
    try:
        bad = site.borgmatic(config)
    finally:
        site.cli("repo", "set", "alice/nightly", "--mode", "borg")
    assert bad.returncode != 0, bad
    reports = _ended(site, "nightly", 2)
    assert _kinds(reports) == ["start", "success", "start", "fail"], reports
    assert site.events("nightly") == [
        "client-start",
        "client-success",
        "client-start",
        "client-fail",
    ]
    failed_log = reports[-1]["body"]
    assert "Connection closed by remote host" in failed_log, failed_log

    with site.webhook(web, "/nightly"):
        site.alert_check()
        [alert] = _bodies(web, "/nightly", "alice/nightly", "client-failed")
        assert alert["alert"] == "client-failed"
        assert alert["report"]["kind"] == "fail" and alert["report"]["source"] == "127.0.0.1"
        printed = [line.strip() for line in (bad.stdout + bad.stderr).splitlines()]
        assert "Connection closed by remote host. Is borg working on the server?" in printed
        assert (
            "Connection closed by remote host. Is borg working on the server?"
            in alert["log"].splitlines()
        ), alert["log"]

        _ok(site.borgmatic(config))
        _ended(site, "nightly", 3)
        site.alert_check()
        [recovered] = _bodies(web, "/nightly", "alice/nightly", "client-recovered")
        assert recovered["alert"] == "client-failed"
        assert recovered["last_success"] is not None
    assert site.events("nightly")[-2:] == ["client-start", "client-success"]
    assert len(_ok(site.borg(site.k1, "nightly", "list", "--short")).stdout.split()) == 2


def _lock_held(path: Path) -> bool:
    lock = path / "lock.exclusive"
    return lock.is_dir() and bool(os.listdir(lock))


@pytest.mark.sshd
@pytest.mark.slapd
def test_a_run_killed_while_borg_works_times_out(
    reports_site: ReportsSite, web: Web, tmp_path: Path
) -> None:
    site = reports_site
    source = tmp_path / "source"
    source.mkdir()
    (source / "first.txt").write_text("read before the pipe\n")
    # borg reads the FIFO (read_special) and waits there for a writer that never comes:
    # the run is under way, the repository locked, when it is killed.
    os.mkfifo(source / "pipe")
    config = site.borgmatic_config("hung", source, read_special=True)
    argv, environment = site.borgmatic_argv(config)
    client = subprocess.Popen(
        argv, env=environment, cwd=site.client, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for(lambda: [r["kind"] for r in site.reports("hung")] == ["start"], 30, "a start")
        started = time.monotonic()  # the start was received before this
        wait_for(lambda: _lock_held(site.path("hung")) or client.poll() is not None, 30, "a lock")
        assert client.poll() is None, "borgmatic ended before it was killed"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(client.pid, signal.SIGKILL)  # borgmatic, borg and ssh
        client.wait(timeout=30)
    assert client.returncode == -signal.SIGKILL
    [start] = site.reports("hung")
    # Past the run timeout; a ping sent as borgmatic died would be in by then, too.
    time.sleep(max(0.5, RUN_TIMEOUT + 0.1 - (time.monotonic() - started)))
    assert [r["kind"] for r in site.reports("hung")] == ["start"]
    assert site.events("hung") == ["client-start"]

    with site.webhook(web, "/hung"):
        site.alert_check()
        [timeout] = _bodies(web, "/hung", "alice/hung", "client-timeout")
        assert timeout["alert"] == "client-timeout"
        assert timeout["run_timeout"] == RUN_TIMEOUT
        ended = r"\[borghive\] Backup run of alice/hung has not ended after [1-9][0-9]?s"
        assert re.fullmatch(ended, timeout["subject"]), timeout["subject"]
        assert timeout["report"]["kind"] == "start"
        assert timeout["report"]["run_id"] == start["run_id"]
        assert timeout["log"] is None

        # The killed session holds nothing: the next run backs up, and its success ends
        # the alert.
        (source / "pipe").unlink()
        _ok(site.borgmatic(config))
        _ended(site, "hung", 1)
        site.alert_check()
        [recovered] = _bodies(web, "/hung", "alice/hung", "client-recovered")
    assert recovered["alert"] == "client-timeout"
    assert site.events("hung") == ["client-start", "client-start", "client-success"]


# -- a hostile client ------------------------------------------------------------------------

HOSTILE = (
    b"borg create: starting\n"
    b"binary \x00\x01\xff\xfe\xc3\x28 junk\n"
    b"\x1b[31mRemote: Failed to create/acquire the lock\x1b[0m\x1b]0;title\x07\n"
    b"progress 10%\rprogress 100%\n"
    b"\xe2\x80\xaeevil\xe2\x80\xac rtl\n"
    b"terminating with error status, rc 2\n"
)
# What the excerpt shows: NUL and the invalid bytes as U+FFFD, a truncated sequence's
# second byte as itself, every control, escape and format character gone, the last redraw.
CLEAN = [
    "borg create: starting",
    "binary \ufffd\ufffd\ufffd\ufffd( junk",
    "Remote: Failed to create/acquire the lock",
    "progress 100%",
    "evil rtl",
    "terminating with error status, rc 2",
]


def _post(url: str, body: bytes) -> int:
    """POST ``body`` as it is (no encoding of any kind) and return the HTTP status."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request("POST", parts.path, body=body)
        return connection.getresponse().status
    finally:
        connection.close()


def test_a_hostile_log_is_stored_readable_and_quoted_clean(
    pings_site: PingsSite, ping_token: str, pinger: PingsProcess, web: Web
) -> None:
    site = pings_site
    site.config_file.write_text(
        site.config_file.read_text() + toml_text({"alerts": {"webhook_timeout": 5.0}})
    )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [borghive_command(), "--config", str(site.config_file), *args]
        return _ok(subprocess.run(command, capture_output=True, text=True, timeout=60))

    cli("user", "notify", "add", "alice", "webhook", web.url("/hook"))
    assert _post(site.url(ping_token, "/2"), HOSTILE) == 200
    wait_for(lambda: site.reports(), 20, "the report")

    [report] = site.reports()
    assert report["kind"] == "fail" and report["exit_status"] == 2
    assert report["body"] == HOSTILE.decode("utf-8", "replace").replace("\x00", "\ufffd")
    assert "\x00" not in report["body"]
    cli("alert", "check")
    [alert] = _bodies(web, "/hook", "alice/laptop", "client-failed")
    assert alert["log"].split("\n") == CLEAN
    assert alert["log_shortened"] is False
    assert "\x1b" not in alert["text"] and "\x00" not in alert["text"]
    assert "terminating with error status, rc 2" in alert["text"]
    shown = cli("repo", "reports", "alice/laptop", "--log").stdout
    assert "terminating with error status, rc 2" in shown
    assert not [c for c in shown if unicodedata.category(c) in ("Cc", "Cf") and c != "\n"]
