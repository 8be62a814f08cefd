"""A PostgreSQL store that cannot be reached."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from borghive.config import Config, StoreConfig
from borghive.errors import StoreUnavailableError
from borghive.store import open_store
from tests.harness.net import free_port


def test_unreachable_postgresql(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret-Passw0rd\n")
    port = free_port()  # bound and released: nothing listens there
    config = Config(
        store=StoreConfig(
            url=f"postgresql://postgres@127.0.0.1:{port}/x",
            password_file=secret,
            connect_timeout=2,
        )
    )
    started = time.monotonic()

    with pytest.raises(StoreUnavailableError) as caught, open_store(config.store):
        pytest.fail("open_store connected to a closed port")

    assert time.monotonic() - started < 5
    error = caught.value
    assert error.exit_code == 75
    assert f"store postgresql://127.0.0.1:{port}/x: cannot connect" in error.message
    text = f"{error.message} {error.hint} {error!s} {error!r}"
    assert "s3cret-Passw0rd" not in text
    assert "postgres@" not in text
    assert error.__cause__ is None
    assert error.__suppress_context__
