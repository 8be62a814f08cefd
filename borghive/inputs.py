"""Reading a file an admin names for input (a key file, sshd's configuration): a regular
file, or ``-`` for standard input, bounded in size, and never a wait.

A named pipe, a device, a directory or a socket given where a file is expected would make
a plain ``open().read()`` block for ever (a FIFO without a writer, a terminal) or read
without end (``/dev/zero``); such a source is refused before anything is read. The file is
opened with ``O_NONBLOCK`` and checked again with ``fstat`` on the open descriptor, so a
file swapped for a FIFO between the two checks cannot block either.
"""

from __future__ import annotations

import os
import stat
import sys

from borghive.errors import InvalidInputError

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def shown(source: str) -> str:
    """``source`` as an error message may show it: quoted and escaped when it holds
    characters a terminal would act on."""
    return source if source.isprintable() else repr(source)


def _refuse_kind(mode: int, source: str, what: str) -> None:
    for test, kind in _KINDS:
        if test(mode):
            raise InvalidInputError(
                f"{what} {shown(source)}: is {kind}, not a regular file "
                "(give a file, or - for standard input)"
            )
    if not stat.S_ISREG(mode):
        raise InvalidInputError(f"{what} {shown(source)}: is not a regular file")


def _too_large(source: str, what: str, limit: int) -> InvalidInputError:
    return InvalidInputError(f"{what} {shown(source)}: larger than {limit} bytes")


def read_input(source: str, *, what: str, limit: int) -> bytes:
    """The bytes of ``source``: a regular file's path, or ``-`` for standard input.

    ``what`` names the input in messages ("key file"); ``limit`` is the largest size
    accepted, in bytes. Raises InvalidInputError, naming the file, when it cannot be read,
    is not a regular file, or is larger than ``limit``. Standard input is read to its end
    (bounded): that is what ``-`` asks for.
    """
    if source == "-":
        stream = getattr(sys.stdin, "buffer", None)
        data = stream.read(limit + 1) if stream is not None else sys.stdin.read(limit + 1)
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        if len(data) > limit:
            raise _too_large("standard input", what, limit)
        return bytes(data)
    try:
        # stat before open: opening a device can act on it (a tape rewinds), and opening
        # a FIFO without O_NONBLOCK waits for a writer
        _refuse_kind(os.stat(source).st_mode, source, what)
        descriptor = os.open(source, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise InvalidInputError(f"cannot read {what} {shown(source)}: {exc.strerror}") from None
    try:
        status = os.fstat(descriptor)
        _refuse_kind(status.st_mode, source, what)
        if status.st_size > limit:
            raise _too_large(source, what, limit)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:  # the file may grow after fstat: read no more than limit + 1
            chunk = os.read(descriptor, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise InvalidInputError(f"cannot read {what} {shown(source)}: {exc.strerror}") from None
    finally:
        os.close(descriptor)
    if size > limit:
        raise _too_large(source, what, limit)
    return b"".join(chunks)
