"""``repo rollback`` after an attack through an append-only key, end to end over ssh, for
each borg series (1.2 and 1.4, the same series serving and on the client): a real client
logs in through the real sshd and the forced command (``borg serve --append-only``),
makes two archives, then deletes and prunes them away as an attacker holding that key
would. ``repo history`` shows the deleting transactions; ``repo rollback --to`` the last
one before them brings both archives back with their bytes once the client has done what
the command printed; ``--undo`` gives back the attacked repository file for file. The
reader is checked against the ``transactions`` log borg keeps in append-only mode.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from borghive.segments.reader import read_transactions
from tests.e2e.test_borg_versions_login import VersionsSite, _require
from tests.harness.alerts import Web
from tests.harness.borg import BorgBinary

pytestmark = [pytest.mark.sshd, pytest.mark.e2e, pytest.mark.slapd]

_LOGGED = re.compile(r"transaction (\d+), UTC time \S+")


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, debian_borg: BorgBinary, other_borg: BorgBinary
) -> Iterator[VersionsSite]:
    _require()
    site = VersionsSite(tmp_path_factory.mktemp("rollback-ssh"), debian_borg, other_borg)
    try:
        site.start()
        yield site
    finally:
        site.stop()


def _tree(path: Path) -> dict[str, str]:
    """Every file of the repository (not the nonce or the locks) and its SHA-256."""
    found = {}
    for directory, _, names in os.walk(path):
        for name in names:
            full = Path(directory, name)
            relative = str(full.relative_to(path))
            if relative != "nonce" and not relative.startswith("lock."):
                found[relative] = hashlib.sha256(full.read_bytes()).hexdigest()
    return found


def _logged(path: Path) -> list[int]:
    """The transaction ids borg wrote to ``transactions`` (append-only sessions only)."""
    lines = (path / "transactions").read_text().splitlines()
    matches = [_LOGGED.fullmatch(line) for line in lines]
    assert all(matches), lines
    return [int(m.group(1)) for m in matches if m]


def _found(path: Path) -> list[int]:
    return [t.segment for t in read_transactions(path).transactions]


def _appended(path: Path) -> list[int]:
    """The transactions the reader finds, but the first: borg serve --append-only does not
    make the session that creates the repository (borg init) append-only, so borg logs
    that one's commit nowhere."""
    return _found(path)[1:]


def _history(site: VersionsSite, name: str) -> list[dict[str, Any]]:
    found: dict[str, Any] = json.loads(
        site.cli("repo", "history", f"alice/{name}", "--json").stdout
    )
    return list(found["transactions"])


def _archives(site: VersionsSite, borg: BorgBinary, name: str) -> list[str]:
    return site.borg(borg, name, "list", "--short").stdout.split()


def _forced_command(site: VersionsSite, name: str, since: int) -> str:
    """The forced command sshd started for repository ``name`` after log offset ``since``
    (waiting for sshd to log it)."""
    assert site.host is not None
    marker = "Starting session: forced-command (key-option) '"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in site.host.log[since:].splitlines():
            if marker in line and f"' for {site.users[name]} " in line:
                return line.split(marker, 1)[1].split("' for ", 1)[0]
        time.sleep(0.05)
    raise AssertionError(f"sshd logged no forced command for {name}")


def _security(site: VersionsSite, borg: BorgBinary) -> Path:
    """The client's borg security directory (borg puts it under BORG_BASE_DIR)."""
    return site.client / f"borg-{borg.series}" / ".config" / "borg" / "security"


@pytest.mark.parametrize("series", ["1.2", "1.4"])
def test_an_append_only_attack_over_ssh_is_rolled_back_and_undone(
    site: VersionsSite, series: str, tmp_path: Path, web: Web
) -> None:
    borg = site.borgs[series]
    name = f"attacked{series.replace('.', '')}"
    created = json.loads(
        site.cli(
            "repo", "create", f"alice/{name}", "--append-only-key", "k1", "--borg", series, "--json"
        ).stdout
    )
    site.users[name] = created["repository"]["repo_user"]
    path = site.path(name)
    since = site.log_size
    site.borg(borg, name, "init", "-e", "repokey")
    forced = _forced_command(site, name, since)
    assert f"exec {borg.path} serve " in forced and forced.endswith(" --append-only"), forced
    source = tmp_path / "source"
    source.mkdir()
    original = os.urandom(700_000)
    (source / "data.bin").write_bytes(original)
    site.borg(borg, name, "create", "::a1", str(source))
    (source / "data.bin").write_bytes(os.urandom(400_000))
    site.borg(borg, name, "create", "::a2", str(source))
    repository_id = json.loads(site.borg(borg, name, "info", "--json").stdout)["repository"]["id"]
    before_attack = [t["transaction"] for t in _history(site, name)]
    assert _logged(path) == _appended(path) == sorted(before_attack)[1:]

    # The attacker, with the same append-only key: borg accepts every one of these.
    site.borg(borg, name, "delete", "::a1")
    site.borg(borg, name, "prune", "--keep-last", "1")
    site.borg(borg, name, "delete", "::a2")
    site.borg(borg, name, "compact")  # borg serve --append-only: compacts nothing
    assert _archives(site, borg, name) == []
    attacked = _tree(path)
    logged_when_attacked = _logged(path)
    assert logged_when_attacked == _appended(path)  # every append-only commit, none other

    history = _history(site, name)
    deleting = sorted(t["transaction"] for t in history if t["deleting"])
    assert deleting and min(deleting) > max(before_attack)
    target = max(t["transaction"] for t in history if t["transaction"] < min(deleting))
    assert target == max(before_attack)
    shown = site.cli("repo", "history", f"alice/{name}").stdout
    assert shown.count("DELETES") == len(deleting)

    # The owner hears of it: a deletion through an append-only key, naming the
    # transactions and the one to roll back to; nothing compacts it meanwhile.
    hook = f"/hook/{name}"
    site.cli("user", "notify", "add", "alice", "webhook", web.url(hook))
    try:
        site.cli("alert", "check")
    finally:
        site.cli("user", "notify", "remove", "alice", "webhook", web.url(hook))
    (alert,) = [
        b
        for b in web.bodies(hook)
        if b["event"] == "deletion" and b["repository"] == f"alice/{name}"
    ]
    assert set(deleting) <= {t["transaction"] for t in alert["deletion"]["transactions"]}
    assert alert["deletion"]["rollback_to"] == target
    # Even where compacting an append-only repository is allowed, the deletion holds it.
    site.cli("repo", "set", f"alice/{name}", "--compact-append-only", "yes")
    refused = site.cli("repo", "compact", f"alice/{name}", check=False)
    assert refused.returncode == 1 and "delet" in refused.stderr, refused.stderr
    assert _tree(path) == attacked

    rolled = site.cli("repo", "rollback", f"alice/{name}", "--to", str(target), "--yes").stdout
    assert f"rolled back to transaction {target}" in rolled and "borg check passed" in rolled
    assert "borg delete --cache-only REPOSITORY" in rolled
    (stamp_line,) = [line for line in rolled.splitlines() if "manifest-timestamp" in line]
    printed = stamp_line.split()[-1]
    assert printed == f"~/.config/borg/security/{repository_id}/manifest-timestamp"
    stamp = _security(site, borg) / repository_id / "manifest-timestamp"
    assert stamp.is_file()  # the printed id is the directory this client keeps
    assert _appended(path) == [t for t in _logged(path) if t <= target]
    assert [t for t in _logged(path) if t > target] == sorted(
        t["transaction"] for t in history if t["transaction"] > target
    )

    site.borg(borg, name, "delete", "--cache-only")
    stamp.unlink()
    assert _archives(site, borg, name) == ["a1", "a2"]
    site.borg(borg, name, "extract", "::a1")  # into the client's directory, its cwd
    restored = site.client / source.relative_to("/") / "data.bin"
    assert restored.read_bytes() == original
    restored.unlink()
    site.borg(borg, name, "check")
    # What the client's sessions since the rollback committed is logged after the rest,
    # and found: the log keeps the rolled-back ids (borg only appends to it).
    logged = _logged(path)
    since_rollback = logged[len(logged_when_attacked) :]
    assert logged[: len(logged_when_attacked)] == logged_when_attacked
    assert _appended(path) == [t for t in logged_when_attacked if t <= target] + since_rollback

    undone = json.loads(
        site.cli("repo", "rollback", f"alice/{name}", "--undo", "--yes", "--json").stdout
    )
    assert undone["verified"]
    assert _tree(path) == attacked
    assert _appended(path) == _logged(path)
    site.borg(borg, name, "delete", "--cache-only")
    stamp.unlink(missing_ok=True)
    assert _archives(site, borg, name) == []
