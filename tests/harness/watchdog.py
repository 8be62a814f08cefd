"""A watchdog for tests of code that must not wait on a named pipe: a hang becomes a
failure instead of a test run that never ends."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path


@contextmanager
def released_after(fifo: Path, seconds: float = 5.0) -> Iterator[threading.Event]:
    """If the code under test still waits on ``fifo`` after ``seconds``, open it for
    writing (which lets a blocked reader go on) and set the event it yields."""
    finished = threading.Event()
    rescued = threading.Event()

    def watch() -> None:
        if finished.wait(seconds):
            return
        rescued.set()
        with suppress(OSError):  # no reader left: nothing was blocked on it
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    watchdog = threading.Thread(target=watch, daemon=True)
    watchdog.start()
    try:
        yield rescued
    finally:
        finished.set()
        watchdog.join()
