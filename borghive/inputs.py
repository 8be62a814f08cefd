"""Reading a file an admin names for input (a key file, sshd's configuration): a regular
file, or ``-`` for standard input, bounded in size, and never a wait.

A named pipe, a device, a directory or a socket given where a file is expected would make
a plain ``open().read()`` block for ever (a FIFO without a writer, a terminal) or read
without end (``/dev/zero``); such a source is refused before anything is read. The file is
opened with ``O_NONBLOCK`` and checked again with ``fstat`` on the open descriptor, so a
file swapped for a FIFO between the two checks cannot block either.
"""

from __future__ import annotations

import sys

from borghive.errors import InvalidInputError
from borghive.login.configfiles import FileTooLargeError, NotRegularFileError, read_regular


def shown(source: str) -> str:
    """``source`` as an error message may show it: quoted and escaped when it holds
    characters a terminal would act on."""
    return source if source.isprintable() else repr(source)


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
        return read_regular(source, limit)
    except NotRegularFileError as exc:
        if exc.kind == "not a regular file":
            raise InvalidInputError(f"{what} {shown(source)}: is not a regular file") from None
        raise InvalidInputError(
            f"{what} {shown(source)}: is {exc.kind}, not a regular file "
            "(give a file, or - for standard input)"
        ) from None
    except FileTooLargeError:
        raise _too_large(source, what, limit) from None
    except OSError as exc:
        raise InvalidInputError(f"cannot read {what} {shown(source)}: {exc.strerror}") from None
