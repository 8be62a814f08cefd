"""For the alert tests: a real SMTP server (aiosmtpd) and a real HTTP server (the
webhook and Pushover endpoints), both on 127.0.0.1 at free ports, a settable clock, and a
configuration whose ``[alerts]`` section points at them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from borghive.config import AlertsConfig, Config
from tests.harness.net import free_port

WEBHOOK_SECRET = "s3cret-webhook-key"
PUSHOVER_TOKEN = "a" * 30


class Clock:
    """A clock the service reads; tests move it."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock(dt.datetime.now(dt.UTC).replace(microsecond=0))


# -- SMTP --------------------------------------------------------------------------------------


@dataclass
class Mailbox:
    """What the SMTP server received; ``refuse`` makes it answer 550 to DATA."""

    messages: list[Any] = field(default_factory=list)
    refuse: bool = False
    port: int = 0


class _Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.box.refuse:
            return "550 5.7.1 mailbox unavailable for this test"
        from email import message_from_bytes, policy

        raw = envelope.original_content.replace(b"\r\n", b"\n")  # SMTP line ends
        message = message_from_bytes(raw, policy=policy.default)
        self.box.messages.append((envelope.rcpt_tos, message))
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    from aiosmtpd.controller import Controller

    box = Mailbox(port=free_port())
    controller = Controller(_Handler(box), hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


# -- HTTP --------------------------------------------------------------------------------------


@dataclass
class Web:
    """What the HTTP server received; ``status`` and ``delay`` (by path) shape its answers."""

    port: int = 0
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    status: dict[str, int] = field(default_factory=dict)
    delay: dict[str, float] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def bodies(self, path: str) -> list[Any]:
        return [json.loads(body) for p, _, body in self.requests if p == path]


@pytest.fixture
def web() -> Iterator[Web]:
    state = Web(port=free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            delay = state.delay.get(self.path, 0.0)
            if delay:
                time.sleep(delay)
            status = state.status.get(self.path, 200)
            if not delay:  # a request the client gave up on was not received
                state.requests.append((self.path, dict(self.headers.items()), body))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"status": 1}' if status == 200 else b'{"errors": ["no"]}')

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", state.port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def alerts_settings(mailbox: Mailbox, web: Web, tmp_path: Path) -> AlertsConfig:
    """``[alerts]`` aimed at the test servers."""
    secret = tmp_path / "webhook-secret"
    secret.write_text(WEBHOOK_SECRET + "\n")
    token = tmp_path / "pushover-token"
    token.write_text(PUSHOVER_TOKEN + "\n")
    return AlertsConfig(
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        smtp_security="none",
        smtp_timeout=5.0,
        mail_from="borghive@backup.example.org",
        pushover_url=web.url("/pushover"),
        pushover_token_file=token,
        webhook_timeout=1.0,
        webhook_secret_file=secret,
    )


@pytest.fixture
def alerts_config(store: Config, alerts_settings: AlertsConfig) -> Config:
    """The open test store's configuration with ``[alerts]`` aimed at the test servers."""
    return dataclasses.replace(store, alerts=alerts_settings)
