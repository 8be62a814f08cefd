"""The bounds of every number borghive takes, defined once.

The configuration's keys (their field metadata in :mod:`borghive.config`, checked by
:mod:`borghive.config_parse`) and the command-line options (:mod:`borghive.cli.usage`)
check against the same :class:`Bound`, and the reference states its :attr:`Bound.words`.
Each upper bound keeps the arithmetic done with the value in range: ``timedelta`` days,
``select`` and socket timeouts, SQLite's busy timeout in milliseconds (a C int), the
number of worker processes started at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DAY = 86400


@dataclass(frozen=True)
class Bound:
    """``low`` ≤ value ≤ ``high`` (``low`` < value when ``above_low``); NaN and infinities
    are outside every bound. ``unit`` is what the number counts, for the words."""

    low: int | float
    high: int | float
    above_low: bool = False
    unit: str = ""

    def holds(self, value: float) -> bool:
        """Whether ``value`` is inside the bound (NaN compares false, so never is)."""
        if not math.isfinite(value):
            return False
        low_ok = value > self.low if self.above_low else value >= self.low
        return low_ok and value <= self.high

    @property
    def words(self) -> str:
        """The bound as the reference and error messages state it: ``1 to 65535``,
        ``greater than 0, at most 3600 seconds``."""
        unit = f" {self.unit}" if self.unit else ""
        if self.above_low:
            return f"greater than {self.low:g}, at most {self.high:g}{unit}"
        return f"{self.low} to {self.high}{unit}"


PORT = Bound(1, 65535)
# Network and lock timeouts: an hour is far past any useful wait, and keeps every
# consumer in range (socket.settimeout, libpq's connect_timeout, SQLite's milliseconds).
TIMEOUT = Bound(0, 3600, above_low=True, unit="seconds")
USER_LENGTH = Bound(5, 32)  # a one-letter prefix and 4 random characters; useradd's 32
ID_NUMBER = Bound(1, 2**31 - 2)  # uidNumber/gidNumber: positive, below nfsnobody's 2^31-1
UID = Bound(1000, 2**31 - 2)  # below 1000: system accounts
RSA_MIN_BITS = Bound(1024, 16384)  # OpenSSH refuses RSA keys above 16384 bits
QUOTA_WARN_PERCENT = Bound(1, 99)
DELETE_WARN_PERCENT = Bound(1, 100)
KEEP_ALL_DAYS = Bound(1, 36500, unit="days")  # a century; datetime ends at year 1
# One repository's walk (stats collect, export's open state): a day.
WALK_TIME_LIMIT = Bound(0, DAY, above_low=True, unit="seconds")
MAINTENANCE_JOBS = Bound(1, 64)  # borg processes maintain starts at once
JOBS = Bound(0, 256)  # worker processes started at once; 0: one per CPU, at most 8
STATS_DELAY = Bound(0, DAY, unit="seconds")  # watch: wait after an update before measuring
# Sizes (decimal bytes) and durations as people write them (rules/quantities.py): 1000 PB
# fits a 64-bit column; ten years of seconds fits every timer.
SIZE = Bound(1, 10**18, unit="bytes")
DURATION = Bound(1, 3650 * DAY, unit="seconds")
PING_CONNECTIONS = Bound(1, 10_000)  # pings: connections served at once (file descriptors)
KEEP_REPORTS = Bound(1, 100_000)  # pings: client reports kept per repository
PING_REQUEST = Bound(1, 100_000_000, unit="bytes")  # pings: a request body read at most
