"""A small HTTP/1.1 server on asyncio and h11 that owns every limit a public endpoint needs.

One request per connection (``Connection: close``, as curl and borgmatic's pings use it).
The request line and headers must arrive within ``header_timeout`` seconds and at most
HEADER_LIMIT bytes, the body within ``body_timeout``; a body is read at most to
``request_limit`` bytes (413 past it, announced or sent) and only its first ``keep`` bytes
stay in memory. Past ``max_connections`` open connections a new one is answered 503 and
closed. What a request means is the ``handle`` callback's business: this module knows no
token, logs no request and never sees the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import h11

log = logging.getLogger("borghive.pings")
T = TypeVar("T")

HEADER_LIMIT = 16_384  # bytes of request line and headers
READ_SIZE = 65_536
WRITE_TIMEOUT = 10.0  # seconds an answer may take to leave
LINGER = 2.0  # seconds a refused client's unread body is drained before the close


@dataclass(frozen=True)
class Limits:
    """The server's limits (from [pings]); ``keep`` is pings.body_limit."""

    header_timeout: float
    body_timeout: float
    request_limit: int
    keep: int
    max_connections: int


@dataclass(frozen=True)
class Incoming:
    """A whole request: method, target (path and query), headers (names in lower case),
    the body's first bytes and whether more came, and the peer's address."""

    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    truncated: bool
    peer: str


Handler = Callable[[Incoming], tuple[int, bytes]]


@dataclass
class Counters:
    """What the server saw, for the log line at exit."""

    answered: int = 0
    timed_out: int = 0
    malformed: int = 0
    too_large: int = 0
    over_capacity: int = 0
    by_status: dict[int, int] = field(default_factory=dict)


class Timeout(Exception):
    """A client that did not send its request in time."""


class TooLarge(Exception):
    """A body past request_limit."""


class PingServer:
    """Serves ``handle`` on one address until :meth:`close`. ``limits`` may be replaced
    between requests (a reload); the address may not."""

    def __init__(self, handle: Handler, limits: Limits) -> None:
        self.handle = handle
        self.limits = limits
        self.counters = Counters()
        self.active = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host``:``port``; raises OSError when it cannot."""
        self._server = await asyncio.start_server(
            self._connection, host, port, backlog=1024, limit=READ_SIZE
        )

    @property
    def port(self) -> int:
        """The port listened on (the one the kernel chose for port 0); 0 before start."""
        if self._server is None:
            return 0
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self, grace: float) -> None:
        """Stop listening, give open requests up to ``grace`` seconds, then cut them."""
        if self._server is not None:
            self._server.close()
        pending = {task for task in self._tasks if not task.done()}
        if pending:
            _, still = await asyncio.wait(pending, timeout=grace)
            for task in still:
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*still, return_exceptions=True)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        limits = self.limits
        if self.active >= limits.max_connections:
            self.counters.over_capacity += 1
            await _close(writer, _plain(503, b"busy", "GET"))
            return
        self.active += 1
        try:
            await self._serve(reader, writer, limits)
        except asyncio.CancelledError:
            # Cut at a stop: this task is the connection's top, so end it quietly (asyncio's
            # stream callback would log a cancelled task's error as a traceback).
            writer.close()
        finally:
            self.active -= 1

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, limits: Limits
    ) -> None:
        connection = h11.Connection(h11.SERVER, max_incomplete_event_size=HEADER_LIMIT)
        method = "GET"
        try:
            request = await _within(limits.header_timeout, _head(connection, reader))
            method = request.method.decode("ascii", "replace")
            body, truncated = await _within(
                limits.body_timeout, _body(connection, reader, writer, request, limits)
            )
        except Timeout:
            self.counters.timed_out += 1
            await _close(writer, None)
            return
        except TooLarge:
            self.counters.too_large += 1
            await _close(writer, _plain(413, b"request too large", method), linger=reader)
            return
        except (h11.RemoteProtocolError, UnicodeDecodeError):
            self.counters.malformed += 1
            await _close(writer, _plain(400, b"bad request", method))
            return
        except OSError:  # the client went away
            await _close(writer, None)
            return
        peer = writer.get_extra_info("peername")
        incoming = Incoming(
            method=method,
            target=request.target.decode("ascii"),
            headers=tuple(
                (name.decode("ascii").lower(), value.decode("latin-1"))
                for name, value in request.headers
            ),
            body=body,
            truncated=truncated,
            peer=str(peer[0]) if isinstance(peer, tuple) and peer else "",
        )
        status, text = self.handle(incoming)
        self.counters.answered += 1
        self.counters.by_status[status] = self.counters.by_status.get(status, 0) + 1
        await _close(writer, _plain(status, text, method))


async def _within(seconds: float, work: Awaitable[T]) -> T:
    try:
        return await asyncio.wait_for(work, seconds)
    except TimeoutError:
        raise Timeout from None


async def _head(connection: h11.Connection, reader: asyncio.StreamReader) -> h11.Request:
    started = False
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            data = await reader.read(READ_SIZE)
            if not data and not started:
                raise OSError("closed without a request")  # a port probe, not a client
            started = True
            connection.receive_data(data)  # b"" marks the end: h11 then raises or closes
            if not data and connection.their_state is not h11.SEND_BODY:
                raise h11.RemoteProtocolError("connection closed before the request ended")
            continue
        if isinstance(event, h11.Request):
            return event
        raise h11.RemoteProtocolError("no request")


async def _body(
    connection: h11.Connection,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    request: h11.Request,
    limits: Limits,
) -> tuple[bytes, bool]:
    for name, value in request.headers:
        if name == b"content-length" and int(value) > limits.request_limit:
            raise TooLarge
    if connection.client_is_waiting_for_100_continue:
        writer.write(connection.send(h11.InformationalResponse(status_code=100, headers=[])))
    kept = bytearray()
    total = 0
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            data = await reader.read(READ_SIZE)
            if not data:
                raise OSError("connection closed in the body")
            connection.receive_data(data)
            continue
        if isinstance(event, h11.Data):
            total += len(event.data)
            if total > limits.request_limit:
                raise TooLarge
            room = limits.keep - len(kept)
            if room > 0:
                kept += event.data[:room]
            continue
        if isinstance(event, h11.EndOfMessage):
            return bytes(kept), total > limits.keep
        raise h11.RemoteProtocolError("unexpected event in the body")


_REASONS = {
    200: b"OK",
    400: b"Bad Request",
    404: b"Not Found",
    405: b"Method Not Allowed",
    413: b"Content Too Large",
    414: b"URI Too Long",
    503: b"Service Unavailable",
}


def _plain(status: int, text: bytes, method: str) -> bytes:
    """A whole ``Connection: close`` answer of ``text`` (no body for HEAD)."""
    reason = _REASONS.get(status, b"")
    head = (
        b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n"
        b"connection: close\r\n\r\n" % (status, reason, len(text))
    )
    return head if method == "HEAD" else head + text


async def _close(
    writer: asyncio.StreamWriter,
    answer: bytes | None,
    linger: asyncio.StreamReader | None = None,
) -> None:
    """Send ``answer`` (if any) and close, giving a slow reader WRITE_TIMEOUT at most.
    With ``linger``, what the client still sends is read and dropped for up to LINGER
    seconds first: closing on unread data makes the kernel reset the connection, and a
    client still sending its body would see the reset instead of the answer."""
    with contextlib.suppress(OSError, TimeoutError):
        if answer is not None:
            writer.write(answer)
            await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT)
        if linger is not None:
            writer.write_eof()
            await asyncio.wait_for(_discard(linger), LINGER)
    writer.close()
    with contextlib.suppress(OSError, TimeoutError):
        await asyncio.wait_for(writer.wait_closed(), WRITE_TIMEOUT)


async def _discard(reader: asyncio.StreamReader) -> None:
    """Read until the client closes, keeping nothing."""
    while await reader.read(READ_SIZE):
        pass
