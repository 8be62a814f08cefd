"""``repo move`` between two real storage hosts (tests/harness/hosts.py: one PostgreSQL,
one slapd, per host its own disk, sshd and configuration): a borg client backs up to
host A, the repository moves to B while the client keeps retrying, and B serves every
archive afterwards; A keeps its copy until ``--finish``. Killed at each step (SIGKILL of
borghive stopped just before the step, of borghive and of rsync mid-copy, of B's sshd
mid-copy), the move either completes when run again or is rolled back by ``--abort``:
logins come back on A with every archive there."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.hosts import HostsSite, hosts_site, wait_until

pytestmark = [pytest.mark.sshd, pytest.mark.slapd, pytest.mark.pg, pytest.mark.e2e]

A, B = "host-a.test", "host-b.test"
RELOCATED = {"BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostsSite]:
    with hosts_site(tmp_path_factory.mktemp("repo-move"), "a", "b") as started:
        for host in started.hosts.values():
            # each host reports itself (the watch daemons do too, at start)
            host.borghive("stats", "collect", check=True)
        started.hosts["a"].borghive("user", "add", "alice", check=True)
        key = started.keys["k1"]
        started.hosts["a"].borghive(
            "key", "add", "alice", str(key.with_suffix(".pub")), "--name", "k1", check=True
        )
        data = started.client / "data"
        data.mkdir()
        (data / "small").write_bytes(os.urandom(64 * 1024))
        (data / "big").write_bytes(os.urandom(3 * 1024 * 1024))
        yield started


def _repository(site: HostsSite, name: str, *, archives: int = 1) -> str:
    """alice/NAME created on A, initialised and backed up by the client ``archives``
    times; its repository user."""
    a = site.hosts["a"]
    created = a.json("repo", "create", f"alice/{name}", "-k", "k1", "--host", A)
    user = created["repository"]["repo_user"]
    assert created["repository"]["host"] == A
    url = a.ssh_url(user, name)
    done = site.borg(site.keys["k1"], url, "init", "--encryption=repokey-blake2")
    assert done.returncode == 0, done.stderr
    for number in range(archives):
        made = site.borg(site.keys["k1"], url, "create", f"::first-{number}", "data")
        assert made.returncode == 0, made.stderr
    return str(user)


def _where(site: HostsSite, user: str) -> tuple[str, str]:
    ((host, mode),) = site.sql("SELECT host, mode FROM repository WHERE repo_user = %s", user)
    return str(host), str(mode)


def _open_move(site: HostsSite, user: str) -> tuple[str, str] | None:
    found = site.sql(
        "SELECT m.step, m.saved_mode FROM repo_move m JOIN repository r ON r.id = "
        "m.repository_id WHERE r.repo_user = %s AND m.ended IS NULL",
        user,
    )
    return (str(found[0][0]), str(found[0][1])) if found else None


def _archives(site: HostsSite, letter: str, user: str, name: str) -> list[str]:
    url = site.hosts[letter].ssh_url(user, name)
    listed = site.borg(site.keys["k1"], url, "list", "--short", **RELOCATED)
    assert listed.returncode == 0, (letter, listed.stderr)
    return listed.stdout.split()


def _move(site: HostsSite, name: str, *extra: str, **environment: str) -> subprocess.Popen[str]:
    a = site.hosts["a"]
    return subprocess.Popen(
        a.argv("repo", "move", f"alice/{name}", "--to", B, "--yes", *extra),
        env={**a.environment, **environment},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def _children(pid: int, program: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as file:
                text = file.read()
        except OSError:
            continue
        command, rest = text.split("(", 1)[1].rsplit(")", 1)
        if command == program and int(rest.split()[1]) == pid:
            found.append(int(name))
    return found


def test_a_move_under_a_retrying_client_keeps_every_archive(site: HostsSite) -> None:
    user = _repository(site, "home")
    made: list[str] = []
    stop = threading.Event()

    def client() -> None:
        # The client follows the repository as DNS would with repos.url_host: to the host
        # the store names; refused while logins are disabled, it retries every second.
        number = 0
        while not stop.is_set():
            host, _ = _where(site, user)
            letter = "a" if host == A else "b"
            url = site.hosts[letter].ssh_url(user, "home")
            name = f"loop-{number}"
            done = site.borg(site.keys["k1"], url, "create", f"::{name}", "data", **RELOCATED)
            if done.returncode == 0:
                made.append(name)
                number += 1
            stop.wait(1.0)

    worker = threading.Thread(target=client)
    worker.start()
    try:
        wait_until(lambda: len(made) >= 2, 60, "two backups before the move")
        moved = site.hosts["a"].json("repo", "move", "alice/home", "--to", B, "--yes")
        after = len(made)
        wait_until(lambda: len(made) >= after + 2, 60, "two backups through B")
    finally:
        stop.set()
        worker.join(120)

    assert moved["step"] == "switched"
    assert moved["url"] == site.hosts["b"].ssh_url(user, "home")
    assert _where(site, user) == (B, "borg")
    assert sorted(_archives(site, "b", user, "home")) == sorted(["first-0", *made])
    # The source copy stays on A until --finish, which moves it aside.
    a = site.hosts["a"]
    assert (a.home(user) / "home" / "config").is_file()
    finished = a.json("repo", "move", "alice/home", "--finish")
    aside = a.disk / ".borghive-moved" / f"{user}.{moved['move']}"
    assert finished["outcome"] == "finished"
    assert (aside / "home" / "config").is_file()
    assert not a.home(user).exists()
    assert site.stray_files() == []


def test_after_the_move_only_b_lets_the_key_in(site: HostsSite) -> None:
    user = _repository(site, "where")
    site.hosts["a"].json("repo", "move", "alice/where", "--to", B, "--yes")
    key = site.keys["k1"].with_suffix(".pub")
    assert site.hosts["b"].authkeys(user, key).stdout != ""
    assert site.hosts["a"].authkeys(user, key).stdout == ""


@pytest.mark.parametrize("step", ["disabled", "copying", "copied", "verified", "switched"])
def test_killed_before_each_step_the_rerun_completes(site: HostsSite, step: str) -> None:
    name = f"kill-{step}"
    user = _repository(site, name)
    running = _move(site, name, BORGHIVE_TEST_MOVE_PAUSE=step)
    wait_until(lambda: _state(running.pid) == "T", 60, f"the move stopped before {step}")
    running.send_signal(signal.SIGKILL)
    running.communicate(timeout=30)

    if step == "disabled":
        assert _open_move(site, user) is None
        assert _where(site, user) == (A, "borg")
    else:
        # Killed outright: logins stay disabled until the rerun (or --abort).
        assert _open_move(site, user) is not None
        assert _where(site, user) == (A, "disabled")
    again = site.hosts["a"].borghive("repo", "move", f"alice/{name}", "--to", B, "--yes")
    assert again.returncode == 0, again.stderr
    assert _where(site, user) == (B, "borg")
    assert _open_move(site, user) == ("switched", "borg")
    assert _archives(site, "b", user, name) == ["first-0"]


def test_killed_mid_move_abort_gives_logins_back_on_a(site: HostsSite) -> None:
    user = _repository(site, "abort")
    running = _move(site, "abort", BORGHIVE_TEST_MOVE_PAUSE="verified")
    wait_until(lambda: _state(running.pid) == "T", 60, "the move stopped after its copy")
    running.send_signal(signal.SIGKILL)
    running.communicate(timeout=30)

    aborted = site.hosts["a"].json("repo", "move", "alice/abort", "--abort")
    assert aborted["outcome"] == "aborted"
    assert _where(site, user) == (A, "borg")
    assert _archives(site, "a", user, "abort") == ["first-0"]
    # The partial copy on B stays, and a later move resumes onto it.
    assert (site.hosts["b"].home(user) / "abort" / "config").is_file()
    site.hosts["a"].json("repo", "move", "alice/abort", "--to", B, "--yes")
    assert _where(site, user) == (B, "borg")


def _slow_move(site: HostsSite, name: str) -> tuple[subprocess.Popen[str], int]:
    """A move copying at 200 KiB/s, and its rsync's pid once it runs."""
    running = _move(site, name, BORGHIVE_TEST_MOVE_BWLIMIT="200")
    found: list[int] = []

    def rsync_started() -> bool:
        found[:] = _children(running.pid, "rsync")
        return bool(found)

    wait_until(rsync_started, 60, "rsync started")
    time.sleep(2.0)  # well into the copy of a 3 MiB file
    return running, found[0]


def test_rsync_killed_mid_copy_gives_logins_back_and_the_rerun_resumes(
    site: HostsSite,
) -> None:
    user = _repository(site, "rsync", archives=1)
    running, rsync = _slow_move(site, "rsync")
    os.kill(rsync, signal.SIGKILL)
    _, stderr = running.communicate(timeout=60)

    assert running.returncode == 1, stderr
    assert stderr.startswith("borghive: error: repository alice/rsync: copying to host-b")
    assert "Traceback" not in stderr
    assert _where(site, user) == (A, "borg")  # logins are back on A
    assert _open_move(site, user) == ("copying", "borg")
    assert _archives(site, "a", user, "rsync") == ["first-0"]
    site.hosts["a"].json("repo", "move", "alice/rsync", "--to", B, "--yes")
    assert _where(site, user) == (B, "borg")
    assert _archives(site, "b", user, "rsync") == ["first-0"]


def test_borghive_killed_mid_copy_leaves_no_rsync_and_the_rerun_completes(
    site: HostsSite,
) -> None:
    user = _repository(site, "killed")
    running, rsync = _slow_move(site, "killed")
    running.send_signal(signal.SIGKILL)
    running.communicate(timeout=30)

    wait_until(lambda: _state(rsync) == "gone", 10, "rsync ended with borghive")
    assert _where(site, user) == (A, "disabled")
    assert _open_move(site, user) == ("copying", "borg")
    site.hosts["a"].json("repo", "move", "alice/killed", "--to", B, "--yes")
    assert _where(site, user) == (B, "borg")
    assert _archives(site, "b", user, "killed") == ["first-0"]


def test_the_targets_sshd_killed_mid_copy_then_the_rerun_completes(site: HostsSite) -> None:
    user = _repository(site, "sshd")
    b = site.hosts["b"]
    running, _ = _slow_move(site, "sshd")
    b.sshd_stop()
    try:
        _, stderr = running.communicate(timeout=60)
        assert running.returncode == 1, stderr
        assert "copying to host-b.test failed" in stderr
        assert _where(site, user) == (A, "borg")
        again = site.hosts["a"].borghive("repo", "move", "alice/sshd", "--to", B, "--yes")
        assert again.returncode == 1  # B unreachable: refused, logins stay on A
        assert _where(site, user) == (A, "borg")
    finally:
        b.sshd_start()
    site.hosts["a"].json("repo", "move", "alice/sshd", "--to", B, "--yes")
    assert _where(site, user) == (B, "borg")
    assert _archives(site, "b", user, "sshd") == ["first-0"]


def test_a_session_that_does_not_end_aborts_the_move(site: HostsSite) -> None:
    user = _repository(site, "busy")
    a = site.hosts["a"]
    url = a.ssh_url(user, "busy")
    # A borg session held open: borg with-lock runs a command while it holds the lock.
    holder = subprocess.Popen(
        ["borg", "with-lock", url, "sleep", "60"],
        env=site.borg_environment(site.keys["k1"], url),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: any(a.disk.joinpath(user, "busy").glob("lock.*")), 30, "the lock")
        refused = a.borghive("repo", "move", "alice/busy", "--to", B, "--yes", "--wait", "2s")
    finally:
        holder.kill()
        holder.wait(30)
    assert refused.returncode == 1
    assert "a session did not end within 2s" in refused.stderr
    assert _where(site, user) == (A, "borg")
    assert _open_move(site, user) is None
    assert not b_has(site, user)


def b_has(site: HostsSite, user: str) -> bool:
    return Path(site.hosts["b"].home(user)).exists()
