"""127.0.0.1 ports for the services the tests start."""

from __future__ import annotations

import contextlib
import socket
import time


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: bound once, then released (so also the
    port of a server that is not there)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    """Return once something accepts connections on 127.0.0.1:``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing answered on 127.0.0.1:{port} within {timeout}s")
