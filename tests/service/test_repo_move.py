"""``repo move``'s records and the parts of the move that need no second host, on both
back ends: starting saves the mode and disables logins in one transaction, one open move
per repository, the switch is one transaction that an abort meanwhile makes fail whole,
reruns take the mode wanted now, refusals change nothing, ``--abort`` gives logins back,
``--finish`` moves the source copy aside (never deletes it), ``--purge-source`` deletes
it; and what the target answers (``move-probe``, ``move-check``) on its own store view."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

import pytest

from borghive.config import Config
from borghive.errors import ConflictError, InvalidInputError, NotFoundError, RefusedError
from borghive.service.moves import peer, records, run
from borghive.service.repositories import lifecycle as repos
from borghive.service.users import keys
from borghive.service.users import people as users
from borghive.store import write_transaction
from borghive.store.models import Event, RepoMove, Repository, StorageHost
from tests.harness.keys import ed25519_line

from .helpers import FakeAccounts

HERE = "backup.example.org"


@pytest.fixture
def repo(store: Config, accounts: FakeAccounts, tmp_path: Path) -> Repository:
    """alice/home in mode export on this host, with a home and a borg-looking directory;
    storage host ``b`` reported with its own repos root."""
    users.add_user("alice")
    keys.add_key("alice", ed25519_line("alice@laptop"), "laptop", rsa_min_bits=3072)
    info = repos.create_repository(
        store, accounts, "alice/home", keys=["laptop"], mode="export"
    ).repository
    (tmp_path / "b-repos").mkdir()
    with write_transaction():
        Repository.update(host=HERE).execute()
        for name in (HERE, "b"):
            StorageHost.insert(name=name).on_conflict_ignore().execute()
        StorageHost.update(repos_root=str(tmp_path / "b-repos"), peer_port=2222).where(
            StorageHost.name == "b"
        ).execute()
    path = Path(info.path)
    (path / "data" / "0").mkdir(parents=True)
    (path / "config").write_text("[repository]\n")
    return Repository.get(Repository.repo_user == info.repo_user)


def _fresh(repo: Repository) -> Repository:
    return Repository.get_by_id(repo.id)


def test_starting_saves_the_mode_and_disables_logins(repo: Repository) -> None:
    move = records.start_move(repo, HERE, "b")
    assert (move.step, move.saved_mode, move.ended) == ("disabled", "export", None)
    assert _fresh(repo).mode == "disabled"
    assert records.open_move(repo).id == move.id  # type: ignore[union-attr]


def test_one_open_move_per_repository(repo: Repository) -> None:
    records.start_move(repo, HERE, "b")
    with pytest.raises(ConflictError, match="another move"):
        records.start_move(repo, HERE, "b")
    assert RepoMove.select().count() == 1


def test_a_failure_gives_logins_back_and_keeps_the_move_open(repo: Repository) -> None:
    move = records.start_move(repo, HERE, "b")
    records.set_step(move, "copying")
    assert records.give_back_logins(move, "rsync failed", aborted=False) == "export"
    fresh = RepoMove.get_by_id(move.id)
    assert (_fresh(repo).mode, fresh.step, fresh.ended, fresh.detail) == (
        "export",
        "copying",
        None,
        "rsync failed",
    )


def test_a_rerun_saves_the_mode_wanted_now(repo: Repository) -> None:
    move = records.start_move(repo, HERE, "b")
    records.give_back_logins(move, "rsync failed", aborted=False)
    with write_transaction():
        Repository.update(mode="borg").where(Repository.id == repo.id).execute()
    again = records.disable_again(move)
    assert (again.step, again.saved_mode, _fresh(repo).mode) == ("disabled", "borg", "disabled")
    # Killed while disabled: the rerun keeps the mode saved before.
    assert records.disable_again(again).saved_mode == "borg"


def test_the_switch_moves_host_and_mode_together(repo: Repository) -> None:
    move = records.start_move(repo, HERE, "b")
    records.switch(move)
    fresh = _fresh(repo)
    assert (fresh.host, fresh.mode) == ("b", "export")
    switched = RepoMove.get_by_id(move.id)
    assert (switched.step, switched.ended) == ("switched", None)
    assert switched.switched is not None
    assert Event.select().where(Event.kind == "moved").count() == 1


def test_a_switch_after_an_abort_changes_nothing(repo: Repository) -> None:
    move = records.start_move(repo, HERE, "b")
    records.give_back_logins(move, "aborted", aborted=True)
    with pytest.raises(RefusedError, match="not switched"):
        records.switch(move)
    fresh = _fresh(repo)
    assert (fresh.host, fresh.mode) == (HERE, "export")
    assert RepoMove.get_by_id(move.id).step == "disabled"
    assert Event.select().where(Event.kind == "moved").count() == 0


def test_refusals_before_anything_changes(store: Config, repo: Repository) -> None:
    with pytest.raises(NotFoundError, match="storage host c not found"):
        run.move_repository(store, "alice/home", "c", wait=1)
    with pytest.raises(InvalidInputError, match="invalid storage host name"):
        run.move_repository(store, "alice/home", "c;reboot", wait=1)
    with pytest.raises(InvalidInputError, match="already lives"):
        run.move_repository(store, "alice/home", HERE, wait=1)
    with write_transaction():
        StorageHost.update(draining=True).where(StorageHost.name == "b").execute()
    with pytest.raises(RefusedError, match="draining"):
        run.move_repository(store, "alice/home", "b", wait=1)
    elsewhere = dataclasses.replace(store, repos=dataclasses.replace(store.repos, host="c"))
    with pytest.raises(ConflictError, match=f"lives on storage host {HERE}"):
        run.move_repository(elsewhere, "alice/home", "b", wait=1)
    assert RepoMove.select().count() == 0
    assert _fresh(repo).mode == "export"


def test_an_open_move_to_another_host_refuses(store: Config, repo: Repository) -> None:
    records.start_move(repo, HERE, "b")
    with write_transaction():
        StorageHost.insert(name="c", repos_root="/srv/c").execute()
    with pytest.raises(ConflictError, match="a move to b is open"):
        run.move_repository(store, "alice/home", "c", wait=1)


def test_a_switched_move_only_reports(store: Config, repo: Repository) -> None:
    move = records.start_move(repo, HERE, "b")
    records.switch(move)
    result = run.move_repository(store, "alice/home", "b", wait=1)
    assert (result.move, result.step, result.outcome) == (move.id, "switched", None)
    assert result.url == f"ssh://{repo.repo_user}@b:22/./home"
    assert result.source_copy == str(Path(store.repos.root) / repo.repo_user)


def test_abort_gives_logins_back_and_refuses_after_the_switch(
    store: Config, repo: Repository
) -> None:
    move = records.start_move(repo, HERE, "b")
    result = run.abort(store, "alice/home")
    assert (result.outcome, _fresh(repo).mode) == ("aborted", "export")
    with pytest.raises(RefusedError, match="no open move"):
        run.abort(store, "alice/home")
    second = records.start_move(repo, HERE, "b")
    records.switch(second)
    with pytest.raises(RefusedError, match="already switched"):
        run.abort(store, "alice/home")
    assert _fresh(repo).host == "b"
    assert run.status(store, "alice/home").move == second.id != move.id


def test_finish_moves_the_source_copy_aside(store: Config, repo: Repository) -> None:
    move = records.start_move(repo, HERE, "b")
    with pytest.raises(RefusedError, match="not switched"):
        run.finish_move(store, "alice/home")
    records.switch(move)
    home = Path(store.repos.root) / repo.repo_user
    result = run.finish_move(store, "alice/home")
    aside = Path(store.repos.root) / ".borghive-moved" / f"{repo.repo_user}.{move.id}"
    assert not home.exists()
    assert (aside / "home" / "config").read_text() == "[repository]\n"
    assert stat.S_IMODE(os.stat(aside.parent).st_mode) == 0o700
    assert (result.outcome, result.source_copy) == ("finished", str(aside))


def test_purge_source_deletes_the_source_copy_only_after_the_switch(
    store: Config, repo: Repository
) -> None:
    move = records.start_move(repo, HERE, "b")
    home = Path(store.repos.root) / repo.repo_user
    with pytest.raises(RefusedError, match="not switched"):
        run.purge_source(store, "alice/home")
    assert (home / "home" / "config").is_file()
    records.switch(move)
    assert run.purge_source(store, "alice/home").outcome == "purged"
    assert not home.exists()


def _on_b(store: Config, tmp_path: Path) -> Config:
    return dataclasses.replace(
        store, repos=dataclasses.replace(store.repos, host="b", root=tmp_path / "b-repos")
    )


def test_the_target_accepts_a_free_home_or_its_earlier_copy(
    store: Config, repo: Repository, tmp_path: Path
) -> None:
    on_b = _on_b(store, tmp_path)
    home = tmp_path / "b-repos" / repo.repo_user
    assert peer.probe(on_b, "alice/home").exists is False
    home.mkdir()
    os.chown(home, int(repo.uid_number), -1)
    with pytest.raises(RefusedError, match="no move of"):
        peer.probe(on_b, "alice/home")  # this uid, but no move here ever left it
    records.start_move(repo, HERE, "b")
    assert peer.probe(on_b, "alice/home").exists is True


def test_the_target_refuses_what_is_not_this_repositorys(
    store: Config, repo: Repository, tmp_path: Path
) -> None:
    on_b = _on_b(store, tmp_path)
    records.start_move(repo, HERE, "b")
    home = tmp_path / "b-repos" / repo.repo_user
    home.mkdir()
    os.chown(home, int(repo.uid_number) + 1, -1)
    with pytest.raises(RefusedError, match="refusing to write over it"):
        peer.probe(on_b, "alice/home")
    home.rmdir()
    home.write_text("x")
    with pytest.raises(RefusedError, match="in the way"):
        peer.probe(on_b, "alice/home")
    with pytest.raises(RefusedError, match="lives on this host"):
        peer.probe(store, "alice/home")


def test_the_target_checks_only_an_open_move_to_itself(
    store: Config, repo: Repository, tmp_path: Path
) -> None:
    on_b = _on_b(store, tmp_path)
    with pytest.raises(NotFoundError, match="no open move"):
        peer.check_copy(on_b, 1)
    move = records.start_move(repo, HERE, "b")
    on_c = dataclasses.replace(on_b, repos=dataclasses.replace(on_b.repos, host="c"))
    with pytest.raises(RefusedError, match="goes to b, not to c"):
        peer.check_copy(on_c, int(move.id))
    with pytest.raises(RefusedError, match="no borg repository"):
        peer.check_copy(on_b, int(move.id))
