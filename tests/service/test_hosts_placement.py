"""Placement (service/hosts/placement.py) and repository creation on a chosen host, on
both store back ends: a SQLite store serves one host; PostgreSQL picks the reported,
not draining host with most free space."""

from __future__ import annotations

import datetime as dt

import pytest

from borghive.config import Config
from borghive.errors import ConflictError, InvalidInputError, NotFoundError
from borghive.rules.times import utcnow
from borghive.service.hosts.listing import set_draining
from borghive.service.hosts.placement import choose_host
from borghive.service.repositories import lifecycle as repos
from borghive.service.repositories.backends import accounts_backend
from borghive.service.users import people as users
from borghive.store import is_sqlite
from borghive.store.models import AccountIntent, Repository, StorageHost

HERE = "backup.example.org"


def _host(name: str, free: int | None, *, age: float = 0.0, draining: bool = False) -> None:
    StorageHost.create(
        name=name,
        free=free,
        capacity=None if free is None else free * 2,
        used=None if free is None else free,
        reported=utcnow() - dt.timedelta(seconds=age),
        draining=draining,
        ssh_port=2201,
    )


def test_this_host_when_alone(store: Config) -> None:
    assert choose_host(store, None) == HERE
    assert choose_host(store, HERE) == HERE


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_sqlite_serves_one_host(store: Config) -> None:
    assert is_sqlite()
    with pytest.raises(InvalidInputError, match="a SQLite store serves one host"):
        choose_host(store, "b.example.org")


@pytest.mark.parametrize("backend", [pytest.param("pg", marks=pytest.mark.pg)], indirect=True)
def test_most_free_among_fresh_open_hosts(store: Config) -> None:
    huge = 10**18  # more than this test machine's disk
    _host("b.example.org", huge)
    _host("c.example.org", huge * 2, draining=True)  # draining: never chosen
    _host("d.example.org", huge * 3, age=3 * 86400)  # not reported within 1d
    _host("e.example.org", None)  # could not measure
    assert choose_host(store, None) == "b.example.org"
    _host("a.example.org", huge)  # a tie goes by name
    assert choose_host(store, None) == "a.example.org"
    assert choose_host(store, "d.example.org") == "d.example.org"  # explicit: known is enough
    with pytest.raises(ConflictError, match="draining"):
        choose_host(store, "c.example.org")
    with pytest.raises(NotFoundError, match="not found"):
        choose_host(store, "zz.example.org")


@pytest.mark.parametrize("backend", [pytest.param("pg", marks=pytest.mark.pg)], indirect=True)
def test_no_candidate_is_a_conflict_with_a_hint(store: Config) -> None:
    set_draining(store, HERE, True)
    with pytest.raises(ConflictError, match="no storage host can take") as raised:
        choose_host(store, None)
    assert raised.value.hint is not None and "host list" in raised.value.hint


@pytest.mark.parametrize("backend", [pytest.param("pg", marks=pytest.mark.pg)], indirect=True)
def test_create_places_on_the_chosen_host_and_prints_its_url(store: Config) -> None:
    users.add_user("alice")
    _host("b.example.org", 10**18)
    created = repos.create_repository(store, accounts_backend(store), "alice/laptop")
    info = created.repository
    assert info.host == "b.example.org"
    assert Repository.get().host == "b.example.org"
    assert info.url == f"ssh://{info.repo_user}@b.example.org:2201/./laptop"
    assert created.client_command is not None and "b.example.org:2201" in created.client_command
    here = repos.create_repository(store, accounts_backend(store), "alice/phone", host=HERE)
    assert here.repository.host == HERE
    assert "@backup.example.org:22/" in here.repository.url


@pytest.mark.parametrize("bad", ["a/b", "..", "a b", "a\nb", "-x", "a" * 254, "", "a..b"])
def test_a_refused_host_writes_nothing(store: Config, bad: str) -> None:
    users.add_user("alice")
    before = (Repository.select().count(), AccountIntent.select().count())
    with pytest.raises(InvalidInputError, match="invalid storage host name"):
        repos.create_repository(store, accounts_backend(store), "alice/laptop", host=bad)
    assert (Repository.select().count(), AccountIntent.select().count()) == before


def test_a_draining_or_unknown_host_writes_nothing(store: Config) -> None:
    users.add_user("alice")
    with pytest.raises((NotFoundError, InvalidInputError)):
        repos.create_repository(
            store, accounts_backend(store), "alice/laptop", host="zz.example.org"
        )
    assert Repository.select().count() == 0
    assert AccountIntent.select().count() == 0


def test_url_host_template_names_the_repository(store: Config) -> None:
    import dataclasses

    config = dataclasses.replace(
        store, repos=dataclasses.replace(store.repos, url_host="{user}.repo.example.org")
    )
    users.add_user("alice")
    info = repos.create_repository(config, accounts_backend(config), "alice/laptop").repository
    assert info.url == f"ssh://{info.repo_user}@{info.repo_user}.repo.example.org:22/./laptop"


@pytest.mark.parametrize("backend", [pytest.param("pg", marks=pytest.mark.pg)], indirect=True)
def test_local_accounts_keep_repositories_on_this_host(store: Config) -> None:
    """useradd makes the repository user on this machine only: another host is refused,
    explicit or automatic; this host still takes it."""
    import dataclasses

    from borghive.config import AccountsConfig

    local = dataclasses.replace(store, accounts=AccountsConfig(backend="local"))
    _host("b.example.org", 10**18)
    with pytest.raises(ConflictError, match="local"):
        choose_host(local, "b.example.org")
    with pytest.raises(ConflictError, match="local"):
        choose_host(local, None)  # b has the most free space
    assert choose_host(local, HERE) == HERE
