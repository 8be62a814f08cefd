"""Helpers shared by the test suite; import with ``from support import …``.

(``from conftest import …`` would be ambiguous: several test directories have a conftest.)
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from borghive.config import Config, ReposConfig, StoreConfig

IN_CI = os.environ.get("CI", "").lower() == "true"


def missing_service(reason: str) -> None:
    """Skip locally, fail under CI=true: CI must never pass by skipping."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing service is a failure)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing answered on 127.0.0.1:{port} within {timeout}s")


def make_config(tmp_path: Path, store_url: str, **repos: Any) -> Config:
    """A configuration for tests: the given store, repos root under ``tmp_path``."""
    root = tmp_path / "repos"
    root.mkdir(exist_ok=True)
    return Config(
        source="<tests>",
        store=StoreConfig(url=store_url, busy_timeout=30.0),
        repos=ReposConfig(root=root, host="backup.example.org", **repos),
    )


def config_toml(config: Config) -> str:
    """The TOML text of a test configuration (store, repos)."""
    lines = [
        "[store]",
        f'url = "{config.store.url}"',
        f"busy_timeout = {config.store.busy_timeout}",
        "[repos]",
        f'root = "{config.repos.root}"',
        f'host = "{config.repos.host}"',
        f"uid_min = {config.repos.uid_min}",
        f"uid_max = {config.repos.uid_max}",
    ]
    return "\n".join(lines) + "\n"
