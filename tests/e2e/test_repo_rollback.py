"""``repo rollback`` on real borg repositories made by a real borg client running as the
repository user: a deletion rolled back (archives and their bytes come back, borg check
passes), undone again (the files are exactly the post-delete ones), and every refusal."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from borghive.segments.reader import read_transactions
from borghive.service.rollback import quarantine as quarantines
from borghive.store import open_store
from borghive.store.models import Event, Repository
from tests.cli.helpers import assert_refused
from tests.harness.maintenance import MaintenanceSite

pytestmark = pytest.mark.e2e


def _tree(path: Path) -> dict[str, str]:
    """Every file of the repository (not the lock or nonce) and its SHA-256."""
    found = {}
    for directory, _, names in os.walk(path):
        for name in names:
            full = Path(directory, name)
            relative = str(full.relative_to(path))
            if relative != "nonce" and not relative.startswith("lock."):
                found[relative] = hashlib.sha256(full.read_bytes()).hexdigest()
    return found


def _archives(site: MaintenanceSite, uid: int, path: Path) -> list[str]:
    return site.client(uid, "list", "--short", str(path)).stdout.split()


def _forget(site: MaintenanceSite, uid: int, path: Path) -> None:
    """What each client does after a rollback (the command prints it)."""
    site.client(uid, "delete", "--cache-only", str(path))
    for stamp in (site.home / str(uid)).rglob("manifest-timestamp"):
        stamp.unlink()


def _attacked(site: MaintenanceSite) -> tuple[Path, int, int, bytes]:
    """alice/photos with archives a1 and a2, then a1 deleted and a2 pruned, as an attacker
    would: (path, uid, the last transaction before the deletion, a1's file)."""
    _, path, uid = site.add("photos", append_only=True)
    source = site.home / f"source-{uid}"
    source.mkdir()
    os.chown(source, uid, site.config.repos.gid)
    data = source / "data.bin"
    site.client(uid, "init", "--encryption=repokey", str(path))
    original = os.urandom(500_000)
    data.write_bytes(original)
    os.chown(data, uid, site.config.repos.gid)
    site.client(uid, "create", f"{path}::a1", str(source))
    data.write_bytes(os.urandom(300_000))
    site.client(uid, "create", f"{path}::a2", str(source))
    site.cli.json("repo", "history", "alice/photos")
    before = read_transactions(path).transactions[-1].segment
    site.client(uid, "delete", f"{path}::a1")
    site.client(uid, "prune", "--keep-last=1", str(path))
    site.client(uid, "delete", f"{path}::a2")
    assert _archives(site, uid, path) == []
    return path, uid, before, original


def test_a_deletion_is_rolled_back_and_undone(maintenance_site: MaintenanceSite) -> None:
    site = maintenance_site
    path, uid, target, _original = _attacked(site)
    attacked = _tree(path)

    planned = site.cli.json("repo", "rollback", "alice/photos", "--to", str(target), "--dry-run")
    assert planned["dry_run"] and planned["undone"] and planned["moves"]
    assert _tree(path) == attacked  # a dry run moves nothing

    done = site.cli.json("repo", "rollback", "alice/photos", "--to", str(target), "--yes")
    assert done["verified"] and done["moves"] == planned["moves"]
    assert site.repository("photos").mode == "borg"  # logins back as they were
    quarantine = quarantines.quarantine_root(path) / done["quarantine"]
    assert quarantine.is_dir() and (quarantine.stat().st_mode & 0o777) == 0o700
    moved = [m for m in done["moves"] if (quarantine / "files" / m).is_file()]
    assert moved == done["moves"]
    _forget(site, uid, path)
    assert _archives(site, uid, path) == ["a1", "a2"]
    site.client(uid, "check", str(path))
    done_text = site.cli.ok("repo", "history", "alice/photos").stdout
    assert f"{target}" in done_text
    with open_store(site.config.store, readonly=True):
        repo = Repository.get(Repository.name == "photos")
        kinds = [e.kind for e in Event.select().where(Event.repository == repo.id)]
    assert "rolled-back" in kinds

    undone = site.cli.json("repo", "rollback", "alice/photos", "--undo", "--yes")
    assert undone["verified"]
    after = _tree(path)
    assert after == attacked
    _forget(site, uid, path)
    assert _archives(site, uid, path) == []
    listed = site.cli.json("repo", "quarantine", "list", "alice/photos")
    assert {q["state"] for q in listed} == {"undone", "stash"}


def test_the_rolled_back_archive_gives_its_original_bytes(
    maintenance_site: MaintenanceSite,
) -> None:
    site = maintenance_site
    path, uid, target, original = _attacked(site)
    site.cli.json("repo", "rollback", "alice/photos", "--to", str(target), "--yes")
    _forget(site, uid, path)
    extract = site.home / str(uid)
    site.client(uid, "extract", f"{path}::a1")
    (restored,) = list(extract.rglob("data.bin"))
    assert restored.read_bytes() == original


def test_refusals_change_nothing(maintenance_site: MaintenanceSite) -> None:
    site = maintenance_site
    path, uid, target, _ = _attacked(site)
    attacked = _tree(path)
    newest = read_transactions(path).transactions[-1].segment
    cases = [
        (("--to", "999999"), "999999 is not a committed transaction"),
        (("--to", str(target + 1)), "not a committed transaction"),
        (("--to", str(newest)), "already the newest"),
        (("--undo",), "no rollback to undo"),
    ]
    for options, words in cases:
        result = site.cli.run("repo", "rollback", "alice/photos", *options, "--yes")
        assert_refused(result, words)
        assert _tree(path) == attacked
    assert_refused(
        site.cli.run("repo", "rollback", "alice/photos", "--to", "1", "--undo"),
        "contradict",
        exit_code=2,
    )
    assert_refused(site.cli.run("repo", "rollback", "alice/photos"), "--to", exit_code=2)
    assert_refused(site.cli.run("repo", "rollback", "alice/photos", "--to", "-1"), exit_code=2)
    with open_store(site.config.store, readonly=True):
        from borghive.store.models import SshKey

        fingerprint = str(SshKey.get(SshKey.name == "desktop").fingerprint)
    with site.session(path, uid, fingerprint):
        held = _tree(path)  # borg with-lock itself commits at its start
        result = site.cli.run("repo", "rollback", "alice/photos", "--to", str(target), "--yes")
        assert_refused(result, "locked by")
        assert _tree(path) == held
    attacked = _tree(path)
    unconfirmed = site.cli.run("repo", "rollback", "alice/photos", "--to", str(target), input="n\n")
    assert unconfirmed.exit_code == 1 and _tree(path) == attacked
    assert site.repository("photos").mode == "borg"


def test_a_target_whose_segments_compaction_removed_is_refused(
    maintenance_site: MaintenanceSite,
) -> None:
    site = maintenance_site
    path, _uid, target, _ = _attacked(site)
    site.cli.json("repo", "set", "alice/photos", "--compact-append-only", "yes")
    site.settle("photos", path)  # the deletions acknowledged, the hold over: it may compact
    site.cli.json("repo", "compact", "alice/photos")
    compacted = _tree(path)
    result = site.cli.run("repo", "rollback", "alice/photos", "--to", str(target), "--yes")
    assert_refused(result, "compaction has removed segments", f"transaction {target} needs")
    assert _tree(path) == compacted


def test_an_interrupted_rollback_is_put_back_by_the_next_command(
    maintenance_site: MaintenanceSite,
) -> None:
    """A rollback killed half-way (manifest written, some files moved, mode disabled): the
    next command moves them back and restores the mode before anything else."""
    site = maintenance_site
    path, _uid, target, _ = _attacked(site)
    attacked = _tree(path)
    planned = site.cli.json("repo", "rollback", "alice/photos", "--to", str(target), "--dry-run")
    made = quarantines.create(path, target, "borg", planned["moves"])
    half = quarantines.Quarantine(**{**made.__dict__, "moves": planned["moves"][:2]})
    quarantines.move_aside(path, half)
    with open_store(site.config.store):
        Repository.update(mode="disabled").where(Repository.name == "photos").execute()
    assert _tree(path) != attacked
    result = site.cli.json("repo", "rollback", "alice/photos", "--undo", "--yes")
    assert result["interrupted_undone"] == made.id
    assert _tree(path) == attacked
    assert site.repository("photos").mode == "borg"


def test_quarantines_are_purged_only_when_confirmed(maintenance_site: MaintenanceSite) -> None:
    site = maintenance_site
    path, _uid, target, _ = _attacked(site)
    done = site.cli.json("repo", "rollback", "alice/photos", "--to", str(target), "--yes")
    where = quarantines.quarantine_root(path) / done["quarantine"]
    refused = site.cli.run("repo", "quarantine", "purge", "alice/photos", input="n\n")
    assert refused.exit_code == 1 and where.is_dir()
    assert_refused(
        site.cli.run("repo", "quarantine", "purge", "alice/photos", "nope", "--yes"), "nope"
    )
    purged = site.cli.json("repo", "quarantine", "purge", "alice/photos", "--yes")
    assert [q["id"] for q in purged] == [done["quarantine"]]
    assert not where.exists()
