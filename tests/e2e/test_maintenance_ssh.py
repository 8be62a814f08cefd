"""Maintenance of repositories a real client uses over real ssh: the client (full-access
key, through sshd, the forced command and ``borg serve``) creates and prunes, borghive
compacts as the repository user, and the client's own check still passes; a session a
client holds open over ssh is named in the refusal."""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from borghive.config_load import load_config
from borghive.store import open_store
from borghive.store.models import RepoTransaction
from tests.e2e.test_borg_login import BorgSite, _fingerprint, _ok
from tests.e2e.test_borg_login import site as site  # the module's own login host
from tests.harness.borg import BORG, PASSPHRASE, du
from tests.harness.environment import missing_service

pytestmark = [pytest.mark.sshd, pytest.mark.e2e, pytest.mark.slapd]


def _prepared(site: BorgSite, name: str, tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        missing_service("maintenance runs borg as repository users: the tests need root")
    site.create(name, "--key", "k1")
    site.init(name, site.k1)
    data = tmp_path / "data.bin"
    data.write_bytes(os.urandom(3_000_000))
    _ok(site.borg(site.k1, name, "create", "::one", str(tmp_path)))
    data.write_bytes(os.urandom(3_000_000))
    _ok(site.borg(site.k1, name, "create", "::two", str(tmp_path)))
    _ok(site.borg(site.k1, name, "prune", "--keep-last=1"))
    return site.path(name)


def _settled(site: BorgSite, name: str) -> None:
    """The prune read into the history, acknowledged and moved a year back: compaction is no
    longer held (what an administrator who checked the deletion would do, then wait)."""
    site.cli("repo", "history", f"alice/{name}")
    site.cli("alert", "ack", f"alice/{name}")
    with open_store(load_config(site.config).store):
        for row in RepoTransaction.select():
            RepoTransaction.update(time=row.time - dt.timedelta(days=365)).where(
                RepoTransaction.id == row.id
            ).execute()


def test_compact_after_a_clients_prune_over_ssh(site: BorgSite, tmp_path: Path) -> None:
    path = _prepared(site, "vault", tmp_path)
    _settled(site, "vault")
    before = du(path)
    report = json.loads(site.cli("repo", "compact", "alice/vault", "--json").stdout)
    after = du(path)
    assert report["result"] == "ok"
    assert report["bytes_freed"] > 2_000_000
    assert abs((before - after) - report["bytes_freed"]) <= 4096
    owners = {os.lstat(Path(d, n)).st_uid for d, _, names in os.walk(path) for n in names}
    assert owners == {site.uids["vault"]}
    _ok(site.borg(site.k1, "vault", "check"))
    assert _ok(site.borg(site.k1, "vault", "list", "--short")).stdout == "two\n"


def test_a_session_held_open_over_ssh_is_named(site: BorgSite, tmp_path: Path) -> None:
    path = _prepared(site, "busy", tmp_path)
    _settled(site, "busy")
    assert site.host is not None
    environment = {  # what BorgSite.borg sets, for a client that stays
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(site.client),
        "LANG": "C.UTF-8",
        "BORG_RSH": shlex.join(site.host.ssh_argv(site.k1)),
        "BORG_PASSPHRASE": PASSPHRASE,
        "BORG_BASE_DIR": str(site.client / "borg"),
        "BORG_REPO": site.url("busy"),
    }
    client = subprocess.Popen(
        [BORG, "with-lock", "::", "sleep", "60"],
        env=environment,
        cwd=site.client,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not (path / "lock.exclusive").is_dir() or not os.listdir(path / "lock.exclusive"):
            assert client.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        refused = site.cli("repo", "compact", "alice/busy", check=False)
        assert refused.returncode == 1, refused
        line = refused.stderr.splitlines()[0]
        assert line.startswith("borghive: error: repository alice/busy: locked by client session")
        assert "key alice/k1" in line and "from 127.0.0.1" in line, line
        assert _fingerprint(site.k1).startswith("SHA256:")
        held = site.cli("repo", "break-lock", "alice/busy", check=False)
        assert held.returncode == 1 and "session kill" in held.stderr
    finally:
        client.terminate()
        client.wait(timeout=30)
