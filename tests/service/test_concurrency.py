"""Concurrent writers: separate processes creating repositories in the same store at once
must all succeed with distinct repository users and uidNumbers."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

from borghive.config import Config
from borghive.service.repositories import view as repo_view
from borghive.service.users import people as users

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from borghive.config import Config, ReposConfig, StoreConfig
    from borghive.rules.accounts import NoAccounts
    from borghive.service.repositories.lifecycle import create_repository
    from borghive.store import open_store

    url, root, go, worker = sys.argv[1:]
    config = Config(
        store=StoreConfig(url=url, busy_timeout=30.0),
        repos=ReposConfig(root=Path(root), host="backup.example.org"),
    )
    while not Path(go).exists():
        time.sleep(0.01)
    with open_store(config.store):
        for n in range(10):
            create_repository(config, NoAccounts(), f"alice/w{worker}-{n}")
    """
)


def test_concurrent_writers(store: Config, tmp_path: Path) -> None:
    users.add_user("alice")
    go = tmp_path / "go"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, store.store.url, str(store.repos.root), str(go), str(n)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(8)
    ]
    time.sleep(0.5)  # let the interpreters start, then release them together
    go.touch()
    outcomes = [worker.communicate(timeout=60) for worker in workers]

    assert [w.returncode for w in workers] == [0] * 8, [err for _, err in outcomes]
    created = repo_view.list_repositories(store)
    assert len(created) == 80
    assert {r.name for r in created} == {f"w{w}-{n}" for w in range(8) for n in range(10)}
    assert len({r.repo_user for r in created}) == 80
    assert sorted(r.uid_number for r in created) == list(range(200000, 200080))
