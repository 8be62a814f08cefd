"""The directory and the store never drift apart after a fault: for ``repo create``,
``repo delete``, ``repo set --mode disabled|borg`` and ``repo grant``, the real slapd is
frozen (SIGSTOP: the request arrives, no answer comes, slapd applies it when it resumes)
or killed before each of the command's LDAP operations in turn, then brought back; after
the next borghive command the store and the directory agree, and ``repo sync --dry-run``
has nothing to do. Real slapd, real ldap3, SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from borghive.config import Config
from borghive.errors import DirectoryUnavailableError
from borghive.ldap import connection as ldap_connection
from borghive.ldap.accounts import LdapAccounts
from borghive.service.repositories import grants
from borghive.service.repositories import lifecycle as repos
from borghive.service.repositories.lifecycle import RepoChanges
from borghive.service.repositories.sync import sync_accounts
from borghive.service.users import keys
from borghive.service.users import people as users
from borghive.store.models import AccountIntent, Repository
from tests.harness.keys import ed25519_line
from tests.harness.slapd import Slapd

from .helpers import backend_for, members, people, with_ldap

pytestmark = pytest.mark.slapd

# One second is the shortest receive timeout ldap3 takes (whole seconds).
TIMEOUTS = {"connect_timeout": 1.0, "operation_timeout": 1.0}


class Counting:
    """An ldap3 Connection whose operations call ``before()`` first."""

    def __init__(self, connection: Any, before: Callable[[], None]) -> None:
        self._connection = connection
        self._before = before

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)

    def _counted(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self._before()
        return getattr(self._connection, name)(*args, **kwargs)

    def search(self, *args: Any, **kwargs: Any) -> Any:
        return self._counted("search", *args, **kwargs)

    def add(self, *args: Any, **kwargs: Any) -> Any:
        return self._counted("add", *args, **kwargs)

    def modify(self, *args: Any, **kwargs: Any) -> Any:
        return self._counted("modify", *args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        return self._counted("delete", *args, **kwargs)


class Faulty(LdapAccounts):
    """The real backend; before its LDAP operation number ``step`` (0 is connecting and
    binding) slapd is frozen (``fault="stop"``) or killed (``"kill"``). ``step=-1`` only
    counts the operations."""

    def __init__(self, config: Config, slapd: Slapd, step: int, fault: str) -> None:
        super().__init__(config.ldap, config.repos.group, config.repos.gid)
        self.slapd, self.step, self.fault = slapd, step, fault
        self.operations = 0
        self.fired = False

    def _before(self) -> None:
        if self.operations == self.step:
            self.fired = True
            if self.fault == "stop":
                self.slapd.pause()
            else:
                self.slapd.kill()
        self.operations += 1

    @property
    def connection(self) -> Any:
        if self._connection is None:
            self._before()
            self._connection = Counting(ldap_connection.connect(self.config), self._before)
        return self._connection


def bring_back(slapd: Slapd, fault: str) -> None:
    if fault == "stop":
        slapd.resume()
    else:
        slapd.restart()


@contextlib.contextmanager
def closing(accounts: LdapAccounts) -> Iterator[LdapAccounts]:
    try:
        yield accounts
    finally:
        accounts.close()


def leave_create_in_doubt(config: Config, slapd: Slapd) -> None:
    """A create whose directory died after the membership, before the entry: an intent
    given up, and a memberUid without an entry."""
    with (
        closing(Faulty(config, slapd, 4, "kill")) as accounts,
        contextlib.suppress(DirectoryUnavailableError),
    ):
        repos.create_repository(config, accounts, "alice/photos", keys=["laptop"])
    slapd.restart()
    assert AccountIntent.select().count() == 1


def run_grant(config: Config, accounts: LdapAccounts) -> None:
    grants.grant_access("alice/base", "laptop", append_only=True, config=config, accounts=accounts)


# scenario: (set-up on a healthy directory, the command, its LDAP operations)
SCENARIOS: dict[str, tuple[Callable[[Config, Slapd], None], Callable[[Config, Any], Any], int]] = {
    # connect, name free?, uid free?, memberUid, entry, uid holders
    "create": (
        lambda config, slapd: None,
        lambda config, a: repos.create_repository(config, a, "alice/photos", keys=["laptop"]),
        6,
    ),
    # connect, entry, memberUid
    "delete": (
        lambda config, slapd: healthy(config, "alice/photos"),
        lambda config, a: repos.delete_repository(config, a, "alice/photos"),
        3,
    ),
    # connect, shadowExpire
    "disable": (
        lambda config, slapd: healthy(config, "alice/photos"),
        lambda config, a: repos.set_repository(
            config, a, "alice/photos", RepoChanges(mode="disabled")
        ),
        2,
    ),
    "enable": (
        lambda config, slapd: healthy(config, "alice/photos", mode="disabled"),
        lambda config, a: repos.set_repository(config, a, "alice/photos", RepoChanges(mode="borg")),
        2,
    ),
    # resolving the create left in doubt: connect, read the entry, delete it, memberUid
    "grant": (leave_create_in_doubt, run_grant, 4),
}


def healthy(config: Config, reference: str, mode: str = "borg") -> None:
    with closing(backend_for(config)) as accounts:
        repos.create_repository(config, accounts, reference, keys=["laptop"], mode=mode)


@pytest.fixture
def site(store: Config, clean_slapd: Slapd) -> Config:
    """alice with key laptop and repository alice/base, on the reset slapd, short
    timeouts."""
    config = with_ldap(store, clean_slapd, **TIMEOUTS)
    users.add_user("alice")
    keys.add_key("alice", ed25519_line("alice@laptop"), "laptop", rsa_min_bits=3072)
    healthy(config, "alice/base")
    return config


def assert_in_step(config: Config, slapd: Slapd) -> None:
    """The store and the directory agree, and a dry run of sync has nothing to do."""
    with closing(backend_for(config)) as accounts:
        assert sync_accounts(config, accounts, dry_run=True).items == ()
    assert AccountIntent.select().count() == 0
    wanted = {r.repo_user: r.mode for r in Repository.select()}
    found = people(slapd)
    assert set(found) == set(wanted) == members(slapd)
    for name, mode in wanted.items():
        assert ("shadowExpire" in found[name]) == (mode == "disabled")


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_operations_counted(site: Config, clean_slapd: Slapd, scenario: str) -> None:
    # The matrix below faults each operation: a count that is off fails here.
    prepare, command, count = SCENARIOS[scenario]
    prepare(site, clean_slapd)
    with closing(Faulty(site, clean_slapd, -1, "none")) as accounts:
        command(site, accounts)
    assert accounts.operations == count
    assert_in_step(site, clean_slapd)


MATRIX = [
    (scenario, fault, step)
    for scenario, (_, _, count) in sorted(SCENARIOS.items())
    for fault in ("stop", "kill")
    for step in range(count)
]


@pytest.mark.parametrize(("scenario", "fault", "step"), MATRIX)
def test_fault_at_each_operation_leaves_nothing_apart(
    site: Config, clean_slapd: Slapd, scenario: str, fault: str, step: int
) -> None:
    prepare, command, _ = SCENARIOS[scenario]
    prepare(site, clean_slapd)
    with (
        closing(Faulty(site, clean_slapd, step, fault)) as accounts,
        pytest.raises(DirectoryUnavailableError) as err,
    ):
        command(site, accounts)
    assert accounts.fired
    assert err.value.exit_code == 75
    bring_back(clean_slapd, fault)
    if AccountIntent.select().count():  # left in doubt: the error said how it resolves
        assert "borghive repo sync" in (err.value.hint or "")
    # The next command that touches accounts (a grant) resolves what was left.
    with closing(backend_for(site)) as accounts:
        run_grant(site, accounts)
    assert_in_step(site, clean_slapd)
