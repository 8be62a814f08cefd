"""``borghive pings``: the ping server, the writer thread behind it, reloads and stops.

The event loop answers; a report goes to :class:`~borghive.pings.pending.Pending` and the
answer leaves at once. One writer thread owns the store: it writes reports in batches,
reloads the tokens every TOKEN_RELOAD seconds (and at SIGHUP), and backs off while the
store is away, logging each outage once. SIGTERM/SIGINT: stop listening, let open
requests finish (REQUEST_GRACE), flush for up to SHUTDOWN_GRACE, spool what is left
(pings.spool) and exit 0 (1 when reports were lost). The next start writes the spool first.
Nothing here logs a token or a body.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable

from borghive.config import Config, PingsConfig
from borghive.config_checks import parse_networks
from borghive.errors import BorghiveError, StoreUnavailableError
from borghive.pings.http import Incoming, Limits, PingServer
from borghive.pings.pending import Pending
from borghive.pings.spool import SpoolError, read_spool, remove_spool, write_spool
from borghive.rules.times import utcnow
from borghive.service.pings.records import Report, body_text
from borghive.service.pings.routes import Refusal, parse_ping
from borghive.service.pings.tokens import TokenIndex
from borghive.service.pings.urls import ping_tokens
from borghive.service.pings.writer import RejectedError, write_reports
from borghive.store import store_errors
from borghive.store.models import database

log = logging.getLogger("borghive.pings")

TOKEN_RELOAD = 5.0  # seconds: a rotated or new token works (or stops) within this
BATCH = 200  # reports per transaction
WRITE_WAIT = 2.0  # seconds a write waits for the store's lock
REQUEST_GRACE = 5.0  # seconds open requests get at a stop
SHUTDOWN_GRACE = 10.0  # seconds the last flush keeps trying before the spool
SWITCH_INTERVAL = 0.001  # seconds a thread holds the GIL before the other may run


def limits_of(pings: PingsConfig) -> Limits:
    return Limits(
        header_timeout=pings.header_timeout,
        body_timeout=pings.body_timeout,
        request_limit=max(pings.request_limit, pings.body_limit),
        keep=pings.body_limit,
        max_connections=pings.max_connections,
    )


class PingDaemon:
    """The daemon; :meth:`run` until a signal stops it. The store must be open."""

    def __init__(self, config: Config, *, reload: Callable[[], Config] | None = None) -> None:
        self.config = config
        self._reload_config = reload
        self.pending = Pending()
        self.index = TokenIndex({})
        self.unknown = 0  # pings with a token no repository has
        self.refused = 0  # requests that are not pings
        self.accepted = 0
        self.stored = 0
        self.gone = 0
        self._spooled = 0  # reports at the front that are still in the spool file
        self._proxies = parse_networks(config.pings.trusted_proxies)
        self._stopping = threading.Event()
        self._reload_tokens = threading.Event()
        self.server = PingServer(self.handle, limits_of(config.pings))

    # --- the event loop side -----------------------------------------------------------

    def handle(self, request: Incoming) -> tuple[int, bytes]:
        """The answer to one request; queues the report of a ping with a known token."""
        try:
            ping = parse_ping(request.method, request.target)
        except Refusal as refusal:
            self.refused += 1
            return refusal.status, refusal.reason.encode()
        repo_id = self.index.find(ping.token)
        if repo_id is None:
            self.unknown += 1
            return 404, b"not found"
        body, truncated = body_text(request.body, self.config.pings.body_limit, request.truncated)
        self.pending.add(
            Report(
                repository_id=repo_id,
                kind=ping.kind,
                run_id=ping.run_id,
                exit_status=ping.exit_status,
                body=body,
                body_truncated=truncated,
                source=self._source(request),
                received=utcnow(),
            )
        )
        self.accepted += 1
        return 200, b"OK"

    def _source(self, request: Incoming) -> str:
        """The client's address: the peer, or where a trusted proxy says the request came
        from (the rightmost X-Forwarded-For entry that is not a trusted proxy itself)."""
        peer = request.peer
        if not self._trusted(peer):
            return peer[:64]
        forwarded = [v for k, v in request.headers if k == "x-forwarded-for"]
        hops = [h.strip() for h in ",".join(forwarded).split(",") if h.strip()]
        for hop in reversed(hops):
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                return peer[:64]  # a forged or garbled header: keep what is known
            if not self._trusted(hop):
                return hop[:64]
        return peer[:64]

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._proxies)

    async def _serve(self) -> int:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGHUP, self._reload)
        pings = self.config.pings
        await self.server.start(pings.listen, pings.port)
        log.info(
            "listening on %s:%d for %d repositories' pings",
            pings.listen,
            self.server.port,
            len(self.index),
        )
        await stop.wait()
        log.info("stopping")
        await self.server.close(REQUEST_GRACE)
        return 0

    def _reload(self) -> None:
        if self._reload_config is not None:
            try:
                config = self._reload_config()
            except BorghiveError as error:
                log.error("reload: %s; keeping the configuration in force", error.message)
                return
            if (config.pings.listen, config.pings.port) != (
                self.config.pings.listen,
                self.config.pings.port,
            ):
                log.warning("reload: a new pings.listen or pings.port needs a restart")
            self.config = config
            self._proxies = parse_networks(config.pings.trusted_proxies)
            self.server.limits = limits_of(config.pings)
        log.info("reloaded the configuration; reloading tokens")
        self._reload_tokens.set()
        self.pending.wake()

    # --- the writer thread ---------------------------------------------------------------

    def load_tokens(self) -> None:
        """Replace the token index from the store; raises StoreUnavailableError."""
        with store_errors():
            self.index = TokenIndex.of(ping_tokens())

    def _writer(self) -> None:
        next_tokens = time.monotonic() + TOKEN_RELOAD
        outage = False
        try:
            while not self._stopping.is_set():
                now = time.monotonic()
                if now >= next_tokens or self._reload_tokens.is_set():
                    self._reload_tokens.clear()
                    next_tokens = now + TOKEN_RELOAD
                    # The old tokens stay while the store is away; the write logs the outage.
                    with contextlib.suppress(StoreUnavailableError):
                        self.load_tokens()
                if self.pending.due(now):
                    ok = self._guarded_write()
                    if not ok and not outage:
                        log.warning(
                            "the store is away; keeping reports (%d) until it is back",
                            len(self.pending),
                        )
                    if ok and outage:
                        log.info("the store is back")
                    outage = not ok
                    if ok and self.pending.due(time.monotonic()):
                        continue
                self.pending.wait(min(1.0, max(0.0, next_tokens - time.monotonic())))
        finally:
            database.close()

    def _guarded_write(self) -> bool:
        """:meth:`_write_batch`, and what no error policy foresaw logged and retried like an
        outage: the writer thread must not die while the server keeps accepting reports."""
        try:
            return self._write_batch(WRITE_WAIT)
        except Exception as error:  # noqa: BLE001 - the thread's last line of defence
            log.error("writing reports failed: %s; retrying", type(error).__name__)
            self.pending.failed(time.monotonic())
            return False

    def _write_batch(self, wait: float) -> bool:
        """Write the oldest batch; False when the store is away (retry later)."""
        # The spooled reports go in one transaction, so the spool is removed exactly when
        # all of it is in the store: a crash in between cannot write some of it twice.
        batch = self.pending.take(max(BATCH, self._spooled))
        try:
            written = write_reports(batch, keep=self.config.pings.keep_reports, wait=wait)
        except StoreUnavailableError as error:
            log.debug("write: %s", error.message)
            self.pending.failed(time.monotonic())
            return False
        except RejectedError:
            written_each = 0
            for report in batch:
                try:
                    written_each += write_reports(
                        [report], keep=self.config.pings.keep_reports, wait=wait
                    ).stored
                except RejectedError as refused:
                    log.error("the store refused a report (%s); dropped it", refused)
            self.stored += written_each
            self.pending.written(batch)
            self._spool_written(len(batch))
            return True
        self.stored += written.stored
        self.gone += written.gone
        self.pending.written(batch)
        self._spool_written(len(batch))
        return True

    def _spool_written(self, count: int) -> None:
        """Remove the spool once every report in it is in the store, so a crash later
        does not write them twice."""
        if not self._spooled:
            return
        self._spooled = max(0, self._spooled - count)
        if not self._spooled:
            try:
                remove_spool(self.config.pings.spool)
            except OSError as error:
                log.error("spool %s: cannot remove it: %s", self.config.pings.spool, error)

    def _flush(self) -> None:
        """Write what is pending for up to SHUTDOWN_GRACE seconds."""
        deadline = time.monotonic() + SHUTDOWN_GRACE
        while len(self.pending) and time.monotonic() < deadline:
            wait = max(0.1, min(WRITE_WAIT, deadline - time.monotonic()))
            if not self._write_batch(wait):
                time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))

    # --- the whole run -------------------------------------------------------------------

    def replay_spool(self) -> None:
        """Queue the reports a previous stop spooled (before anything new)."""
        try:
            spooled = read_spool(self.config.pings.spool)
        except (SpoolError, OSError) as error:
            log.error("spool %s: %s; left in place", self.config.pings.spool, error)
            return
        if spooled:
            log.info("writing %d reports spooled at the last stop", len(spooled))
            self.pending.add_front(spooled)
            self._spooled = len(spooled)

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT; returns the exit status (1 when reports were lost).
        Raises StoreUnavailableError when the tokens cannot be read at start, OSError when
        the address cannot be listened on (after writing or spooling what the spool held)."""
        self.load_tokens()
        self.replay_spool()
        spool_path = self.config.pings.spool
        # The writer thread's Python work would hold the GIL for up to 5 ms (the default
        # switch interval) while an answer waits; 1 ms bounds that wait.
        sys.setswitchinterval(SWITCH_INTERVAL)
        writer = threading.Thread(target=self._writer, name="pings-writer", daemon=True)
        writer.start()
        failure: OSError | None = None
        status = 0
        try:
            status = asyncio.run(self._serve())
        except OSError as error:  # cannot listen: still keep what the spool gave
            failure = error
        finally:
            self._stopping.set()
            self.pending.wake()
            writer.join()
        try:
            self._flush()
        finally:
            database.close()
        lost = self.pending.dropped
        left = self.pending.take(len(self.pending))
        try:
            if left:
                write_spool(spool_path, left)
                log.warning("spooled %d reports the store did not take", len(left))
        except OSError as error:
            log.error("spool %s: %s; %d reports lost", spool_path, error, len(left))
            lost += len(left)
        if failure is not None:
            raise failure
        counters = self.server.counters
        log.info(
            "stopped: %d pings stored, %d unknown tokens, %d not pings, %d timed out, "
            "%d too large, %d malformed, %d over the connection cap, %d for deleted "
            "repositories, %d dropped",
            self.stored,
            self.unknown,
            self.refused,
            counters.timed_out,
            counters.too_large,
            counters.malformed,
            counters.over_capacity,
            self.gone,
            lost,
        )
        return 1 if lost else status
