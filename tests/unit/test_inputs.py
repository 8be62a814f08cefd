"""read_input: a regular file or standard input, bounded, and never a wait; what it
refuses it names. A FIFO is opened for writing by a watchdog after a few seconds
(tests/harness/watchdog.py), so a reader that blocks fails the test instead of hanging it."""

from __future__ import annotations

import io
import os
import socket
import sys
import tempfile
from pathlib import Path

import pytest

from borghive.errors import InvalidInputError
from borghive.inputs import read_input
from borghive.service.doctor.sshd import SshdConfigError, key_commands
from tests.harness.watchdog import released_after


def refusal(source: Path | str, limit: int = 1024) -> str:
    with pytest.raises(InvalidInputError) as caught:
        read_input(str(source), what="key file", limit=limit)
    return caught.value.message


def test_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "key.pub"
    os.mkfifo(fifo)
    with released_after(fifo) as rescued:
        message = refusal(fifo)
    assert not rescued.is_set(), "read_input waited on the FIFO"
    assert message == (
        f"key file {fifo}: is a named pipe (FIFO), not a regular file "
        "(give a file, or - for standard input)"
    )


def test_a_symbolic_link_to_a_fifo_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "key.pub"
    link.symlink_to(fifo)
    with released_after(fifo) as rescued:
        assert "is a named pipe (FIFO)" in refusal(link)
    assert not rescued.is_set()


@pytest.mark.parametrize(
    ("device", "kind"), [("/dev/zero", "a character device"), ("/dev/null", "a character device")]
)
def test_devices_are_refused(device: str, kind: str) -> None:
    assert refusal(device) == (
        f"key file {device}: is {kind}, not a regular file (give a file, or - for standard input)"
    )


def test_a_directory_and_a_socket_are_refused(tmp_path: Path) -> None:
    assert "is a directory, not a regular file" in refusal(tmp_path)
    with tempfile.TemporaryDirectory(dir="/tmp") as short:  # AF_UNIX paths are short
        path = Path(short) / "s"
        with socket.socket(socket.AF_UNIX) as listener:
            listener.bind(str(path))
            assert "is a socket, not a regular file" in refusal(path)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pub"
    assert refusal(missing) == f"cannot read key file {missing}: No such file or directory"


def test_size_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "key.pub"
    path.write_bytes(b"x" * 1024)
    assert read_input(str(path), what="key file", limit=1024) == b"x" * 1024
    path.write_bytes(b"x" * 1025)
    assert refusal(path) == f"key file {path}: larger than 1024 bytes"


def test_a_name_with_control_characters_is_shown_escaped(tmp_path: Path) -> None:
    path = tmp_path / "a\x1b[2Jb"
    os.mkfifo(path)
    message = refusal(path)
    assert "\x1b" not in message
    assert repr(str(path)) in message


def test_standard_input_is_read_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"ssh-ed25519 \xff")))
    assert read_input("-", what="key file", limit=1024) == b"ssh-ed25519 \xff"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"y" * 1025)))
    assert refusal("-") == "key file standard input: larger than 1024 bytes"


def test_sshd_configuration_and_its_includes_never_block(tmp_path: Path) -> None:
    """doctor --sshd-config reads the file and what it includes through the same reader."""
    fifo = tmp_path / "sshd_config"
    os.mkfifo(fifo)
    with released_after(fifo) as rescued, pytest.raises(SshdConfigError) as caught:
        key_commands(fifo)
    assert not rescued.is_set()
    assert f"sshd configuration {fifo}: is a named pipe (FIFO)" in str(caught.value)
    included = tmp_path / "included.conf"
    os.mkfifo(included)
    main = tmp_path / "main_config"
    main.write_text(f"Include {included}\n")
    with released_after(included) as rescued, pytest.raises(SshdConfigError) as caught:
        key_commands(main)
    assert not rescued.is_set()
    assert f"sshd configuration {included}: is a named pipe (FIFO)" in str(caught.value)
