"""How clients reach a repository, whichever host it lives on: defined once.

The host name in a client URL is ``repos.url_host`` with ``{user}`` filled in when that is
set (one DNS name per repository, so that a move changes DNS, not clients), else the name
of the storage host the repository lives on; the port is the one that host reported
(``repos.ssh_port`` of its configuration), or this host's for this host and for a host
that has not reported yet.
"""

from __future__ import annotations

from dataclasses import dataclass

from borghive.config import Config
from borghive.rules.layout import client_command, client_url
from borghive.service.hosts.identity import this_host
from borghive.store import raw_rows
from borghive.store.models import StorageHost


@dataclass(frozen=True)
class Addresses:
    """The SSH ports of the storage hosts, read once for many URLs."""

    config: Config
    ports: dict[str, int]

    def endpoint(self, repo_user: str, host: str) -> tuple[str, int]:
        """(host name, port) a client uses for ``repo_user`` living on ``host``."""
        template = self.config.repos.url_host
        name = template.replace("{user}", repo_user) if template else host
        if host == this_host(self.config):
            return name, self.config.repos.ssh_port
        return name, self.ports.get(host, self.config.repos.ssh_port)

    def url(self, repo_user: str, name: str, host: str) -> str:
        """The ``ssh://`` URL of repository ``name`` of ``repo_user`` on ``host``."""
        address, port = self.endpoint(repo_user, host)
        return client_url(address, port, repo_user, name)

    def first_command(self, mode: str, repo_user: str, name: str, host: str) -> str | None:
        """What the client runs first (``borg init`` or rsync), as layout.client_command."""
        address, port = self.endpoint(repo_user, host)
        return client_command(mode, address, port, repo_user, name)


def addresses(config: Config) -> Addresses:
    """The storage hosts' ports from the store (one query)."""
    query = StorageHost.select(StorageHost.name, StorageHost.ssh_port).where(
        StorageHost.ssh_port.is_null(False)
    )
    return Addresses(config, {name: int(port) for name, port in raw_rows(query)})
