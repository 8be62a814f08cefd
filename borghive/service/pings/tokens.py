"""Ping tokens: made unguessable, looked up in constant time, turned into URLs.

A token is ``secrets.token_urlsafe(32)``: 256 random bits in 43 URL-safe characters. The
daemon keeps a map from the SHA-256 of each token to its repository, so a lookup costs
one hash whatever is sent, and confirms the hit with ``hmac.compare_digest``: how long an
answer takes says nothing about how much of a token was right.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from borghive.config import PingsConfig

TOKEN_BYTES = 32  # 256 bits; Healthchecks' own ping keys carry 128


def new_token() -> str:
    """A fresh random token (43 characters of A-Z a-z 0-9 - _)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> bytes:
    """The key of ``token`` in a :class:`TokenIndex`."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


@dataclass(frozen=True)
class TokenIndex:
    """Which repository (store id) each token reports for."""

    entries: dict[bytes, tuple[int, str]]

    @classmethod
    def of(cls, pairs: Iterable[tuple[int, str]]) -> TokenIndex:
        """The index of (repository id, token) pairs."""
        return cls({token_digest(token): (repo_id, token) for repo_id, token in pairs})

    def find(self, token: str) -> int | None:
        """The repository id of ``token``; None when no repository has it."""
        entry = self.entries.get(token_digest(token))
        if entry is None:
            return None
        repo_id, known = entry
        return repo_id if hmac.compare_digest(known.encode(), token.encode()) else None

    def __len__(self) -> int:
        return len(self.entries)


def base_url(pings: PingsConfig) -> str:
    """Where clients reach the daemon: pings.public_url, else http://LISTEN:PORT."""
    if pings.public_url:
        return pings.public_url.rstrip("/")
    host = f"[{pings.listen}]" if ":" in pings.listen else pings.listen
    return f"http://{host}:{pings.port}"


def ping_url(pings: PingsConfig, token: str) -> str:
    """The ping URL of ``token`` (``…/ping/<token>``)."""
    return f"{base_url(pings)}/ping/{token}"


def borgmatic_snippet(url: str) -> str:
    """The lines of a borgmatic 2 configuration that report to ``url``."""
    return f"healthchecks:\n    ping_url: {url}\n    send_logs: true\n"
