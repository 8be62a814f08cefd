"""Capacity reports (service/hosts/report.py) on both store back ends: statvfs of the
repos root, this host's repository count, the upsert of storage_host, and the watch
daemon's heartbeat thread."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path

import pytest

from borghive import __version__
from borghive.config import Config, HostsConfig
from borghive.errors import StoreUnavailableError
from borghive.service.hosts.report import report_this_host
from borghive.service.repositories import lifecycle as repos
from borghive.service.repositories.backends import accounts_backend
from borghive.service.users import people as users
from borghive.store.models import Repository, StorageHost
from borghive.watch.heartbeat import Heartbeat


def test_the_migration_registers_this_host_by_its_repos_host(store: Config) -> None:
    assert [h.name for h in StorageHost.select()] == ["backup.example.org"]


def test_a_report_records_statvfs_of_the_repos_root_and_the_local_count(store: Config) -> None:
    users.add_user("alice")
    repos.create_repository(store, accounts_backend(store), "alice/laptop")
    repos.create_repository(store, accounts_backend(store), "alice/phone")
    # A repository of another host is not counted here.
    Repository.update(host="other.example.org").where(Repository.name == "phone").execute()
    before = os.statvfs(store.repos.root)
    report = report_this_host(store)
    after = os.statvfs(store.repos.root)
    assert report.name == "backup.example.org"
    assert report.capacity == before.f_blocks * before.f_frsize
    assert report.free is not None and report.used is not None
    low, high = sorted((before.f_bavail * before.f_frsize, after.f_bavail * after.f_frsize))
    assert low <= report.free <= high
    assert report.used <= report.capacity
    assert report.repositories == 1
    row = StorageHost.get(StorageHost.name == "backup.example.org")
    assert (row.capacity, row.free, row.used, row.repositories) == (
        report.capacity,
        report.free,
        report.used,
        1,
    )
    assert row.version == __version__
    assert (row.ssh_port, row.peer_address, row.peer_port) == (22, "backup.example.org", 22)
    assert row.repos_root == str(store.repos.root)
    assert row.reported is not None


def test_a_new_host_joins_by_reporting_and_draining_survives_reports(
    store: Config, tmp_path: Path
) -> None:
    other = dataclasses.replace(
        store,
        repos=dataclasses.replace(store.repos, host="b.example.org", ssh_port=2222),
        hosts=HostsConfig(peer_address="10.0.0.2", peer_port=2200),
    )
    report_this_host(other)
    StorageHost.update(draining=True, snapshot_problem="x").where(
        StorageHost.name == "b.example.org"
    ).execute()
    report_this_host(other)
    row = StorageHost.get(StorageHost.name == "b.example.org")
    assert (row.ssh_port, row.peer_address, row.peer_port) == (2222, "10.0.0.2", 2200)
    assert row.draining is True
    assert row.snapshot_problem == "x"
    assert StorageHost.select().count() == 2


def test_an_unreadable_repos_root_is_reported_without_figures(store: Config) -> None:
    gone = dataclasses.replace(
        store, repos=dataclasses.replace(store.repos, root=store.repos.root / "missing")
    )
    report = report_this_host(gone)
    assert report.problem is not None and "missing" in report.problem
    row = StorageHost.get(StorageHost.name == "backup.example.org")
    assert (row.capacity, row.free, row.used) == (None, None, None)
    assert row.reported is not None


def test_heartbeat_reports_repeatedly_and_logs_an_outage_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="borghive.watch")
    calls: list[float] = []
    failing = [True]

    def beat() -> None:
        calls.append(time.monotonic())
        if failing[0]:
            raise StoreUnavailableError("store away")

    heartbeat = Heartbeat(beat, lambda: 0.02).start()
    try:
        deadline = time.monotonic() + 10
        while len(calls) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        failing[0] = False
        while heartbeat.beats < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        heartbeat.stop()
    assert len(calls) >= 5
    assert heartbeat.beats >= 2
    warnings = [r for r in caplog.records if "cannot report" in r.getMessage()]
    assert len(warnings) == 1
    assert "store away" in warnings[0].getMessage()
    assert any("works again" in r.getMessage() for r in caplog.records)
