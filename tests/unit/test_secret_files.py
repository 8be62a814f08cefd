"""The one reader of secret files (borghive.login.configfiles.read_secret), shared by the
configuration loader and the store: the first line, stripped; an empty, undecodable or
unreadable file is an error naming the file, never its content."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from borghive.errors import ConfigError
from borghive.login.configfiles import read_secret

SECRETS = {
    "plain": (b"s3cret\n", "s3cret"),
    "spaces-and-more-lines": (b"  s3cret  \nsecond line\n", "s3cret"),
    "crlf": (b"s3cret\r\n", "s3cret"),
    "no-newline": (b"s3cret", "s3cret"),
    "empty": (b"", "error: store.password_file: {path} is empty"),
    "blank-first-line": (b"\ns3cret\n", "error: store.password_file: {path} is empty"),
    "only-spaces": (b"   \n", "error: store.password_file: {path} is empty"),
    "not-utf-8": (b"s3cr\xffet\n", "error: store.password_file: {path} is not UTF-8 text"),
}


@pytest.mark.parametrize(("content", "expected"), SECRETS.values(), ids=SECRETS.keys())
def test_password_reader(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "password"
    path.write_bytes(content)

    assert _secret(read_secret, str(path)) == expected.format(path=path)


def test_password_reader_unreadable_files(tmp_path: Path) -> None:
    assert _secret(read_secret, str(tmp_path / "missing")).startswith(
        "error: store.password_file: cannot read"
    )
    assert _secret(read_secret, str(tmp_path)) == (
        f"error: store.password_file: {tmp_path} is not a regular file"
    )


def _secret(reader: Callable[[Any, str], str], path: str | Path) -> str:
    try:
        return reader(path, "store.password_file")
    except ConfigError as exc:
        return f"error: {exc}"
