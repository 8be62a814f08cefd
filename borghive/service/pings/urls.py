"""A repository's ping URL: made on first use, rotated on demand (``repo ping-url``)."""

from __future__ import annotations

from dataclasses import dataclass

from borghive.config import Config
from borghive.service.pings.tokens import borgmatic_snippet, new_token, ping_url
from borghive.service.repositories.lifecycle import find_repository
from borghive.store import rows, write_transaction
from borghive.store.models import Repository


@dataclass(frozen=True)
class PingUrl:
    """A repository's ping URL and the borgmatic lines that use it; ``made`` is True when
    this call made the token (first use, or ``rotate``)."""

    repository: str
    url: str
    borgmatic: str
    made: bool


def repository_ping_url(config: Config, reference: str, *, rotate: bool = False) -> PingUrl:
    """The ping URL of the repository ``reference`` (OWNER/NAME or its repository user),
    making its token when it has none, or a new one when ``rotate`` (the old one stops
    working at the daemon's next reload, within seconds). Raises NotFoundError."""
    with write_transaction():
        repo = find_repository(reference)
        token = repo.ping_token
        made = rotate or not token
        if made:
            token = new_token()
            Repository.update(ping_token=token).where(Repository.id == repo.id).execute()
    url = ping_url(config.pings, str(token))
    return PingUrl(f"{repo.owner.name}/{repo.name}", url, borgmatic_snippet(url), made)


def existing_ping_url(config: Config, reference: str) -> str | None:
    """The ping URL of a repository, None while it has no token (read only)."""
    repo = find_repository(reference)
    return None if not repo.ping_token else ping_url(config.pings, str(repo.ping_token))


def ping_tokens() -> list[tuple[int, str]]:
    """(repository id, token) of every repository that has a token."""
    query = Repository.select(Repository.id, Repository.ping_token).where(
        Repository.ping_token.is_null(False)
    )
    return [(int(repo_id), str(token)) for repo_id, token in rows(query) if token]
