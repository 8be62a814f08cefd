"""The maintenance alerts (check-failed, lock-stuck) on both store back ends: the rows the
maintenance commands and the watch daemon write, real lock files from a real
``borg with-lock``, and a real webhook receiver and SMTP server."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from borghive.config import Config
from borghive.errors import ConflictError
from borghive.rules.layout import repository_path
from borghive.service.alerts import channels as notify
from borghive.service.alerts import check as alerts
from borghive.store.models import AlertState, BorgSession, Event, Repository, SshKey, User
from tests.harness.alerts import Clock, Mailbox, Web
from tests.harness.borg import BORG, borg
from tests.service.test_alerts import events, make_repo, naive

HOUR = 3600
WEBHOOK_KEYS = {
    "format",
    "event",
    "owner",
    "repository",
    "url",
    "since",
    "last_update",
    "alert_after",
    "bytes_used",
    "quota",
    "percent",
    "subject",
    "text",
    "time",
}
DAMAGE = "segment 17: crc32 mismatch at offset 4096 (data/0/17)"


def with_lock_limit(config: Config, limit: str) -> Config:
    return dataclasses.replace(
        config, maintenance=dataclasses.replace(config.maintenance, lock_alert_after=limit)
    )


def hooked(config: Config, web: Web, reference: str, **options: object) -> int:
    """A repository of ``reference``'s owner with a webhook channel (no alert period)."""
    options.setdefault("alert_after", None)
    repo = make_repo(
        config, reference, created=dt.datetime.now(dt.UTC) - dt.timedelta(days=30), **options
    )
    owner = reference.partition("/")[0]
    with contextlib.suppress(ConflictError):  # the owner's second repository
        notify.add_channel(owner, "webhook", web.url(f"/hook/{owner}"))
    return repo


def failed_check(repo: int, when: dt.datetime, detail: str = DAMAGE) -> None:
    Repository.update(last_check=naive(when), last_check_ok=False, last_check_detail=detail).where(
        Repository.id == repo
    ).execute()


def bodies(web: Web, owner: str) -> list[dict[str, object]]:
    return web.bodies(f"/hook/{owner}")


# -- check-failed -----------------------------------------------------------------------------


def test_failed_check_alerts_once_reminds_after_realert_and_recovers(
    alerts_config: Config, clock: Clock, web: Web, mailbox: Mailbox
) -> None:
    repo = hooked(alerts_config, web, "alice/laptop")
    notify.add_channel("alice", "email")
    checked = clock() - dt.timedelta(hours=1)
    failed_check(repo, checked)

    report = alerts.check_alerts(alerts_config, clock)

    assert report.firing == 1 and report.failed == 0
    [body] = bodies(web, "alice")
    assert set(body) == WEBHOOK_KEYS | {"check"}
    assert body["event"] == "check-failed" and body["repository"] == "alice/laptop"
    assert body["check"] == {"time": checked.isoformat(), "ok": False, "detail": DAMAGE}
    assert dt.datetime.fromisoformat(str(body["since"])) == checked
    assert DAMAGE in str(body["text"]) and "borghive repo check" in str(body["text"])
    [(_, mail)] = mailbox.messages
    assert mail["Subject"] == "[borghive] Check of alice/laptop failed"
    assert DAMAGE in mail.get_content()
    [state] = AlertState.select().where(AlertState.kind == "check-failed", AlertState.channel == 1)
    assert state.detail == DAMAGE
    assert any("check-failed" in detail for detail in events("alert"))

    # Not again before the owner's re-alert interval (12 h by default) ...
    clock.advance(hours=11)
    assert alerts.check_alerts(alerts_config, clock).deliveries == ()
    assert len(bodies(web, "alice")) == 1
    # ... then a reminder of the same episode.
    clock.advance(hours=2)
    [reminder] = [
        d for d in alerts.check_alerts(alerts_config, clock).deliveries if "webhook" in d.channel
    ]
    assert reminder.event == "check-failed" and reminder.sent
    assert bodies(web, "alice")[-1]["since"] == checked.isoformat()

    # A later check that passes ends it with a notice.
    passed = clock() - dt.timedelta(minutes=5)
    Repository.update(last_check=naive(passed), last_check_ok=True, last_check_detail="").where(
        Repository.id == repo
    ).execute()
    report = alerts.check_alerts(alerts_config, clock)
    assert {d.event for d in report.deliveries} == {"check-passed"} and report.firing == 0
    recovered = bodies(web, "alice")[-1]
    assert set(recovered) == WEBHOOK_KEYS | {"check"}
    assert recovered["event"] == "check-passed"
    assert recovered["check"] == {"time": passed.isoformat(), "ok": True, "detail": None}
    assert AlertState.select().where(AlertState.kind == "check-failed").count() == 0
    assert any("check passed" in detail for detail in events("recovered"))
    # Nothing more once it is over.
    assert alerts.check_alerts(alerts_config, clock).deliveries == ()


def test_a_check_failing_again_with_other_damage_is_told_at_once(
    alerts_config: Config, clock: Clock, web: Web
) -> None:
    repo = hooked(alerts_config, web, "bob/server")
    failed_check(repo, clock() - dt.timedelta(hours=2))
    alerts.check_alerts(alerts_config, clock)
    # The same damage found again: the same episode, no new message.
    failed_check(repo, clock() - dt.timedelta(hours=1))
    assert alerts.check_alerts(alerts_config, clock).deliveries == ()
    # Other segments damaged now: told at once, still the first failure's episode.
    failed_check(repo, clock() - dt.timedelta(minutes=10), "segment 3: missing")
    alerts.check_alerts(alerts_config, clock)
    first, second = bodies(web, "bob")
    assert second["event"] == "check-failed"
    assert second["check"]["detail"] == "segment 3: missing"  # type: ignore[index]
    assert second["since"] == first["since"]


def test_a_passed_check_no_newer_than_the_failure_recovers_nothing(
    alerts_config: Config, clock: Clock, web: Web
) -> None:
    repo = hooked(alerts_config, web, "carol/nas")
    failed_check(repo, clock() - dt.timedelta(hours=1))
    alerts.check_alerts(alerts_config, clock)
    Repository.update(last_check_ok=None).where(Repository.id == repo).execute()
    assert alerts.check_alerts(alerts_config, clock).deliveries == ()
    assert AlertState.select().where(AlertState.kind == "check-failed").count() == 0
    assert [b["event"] for b in bodies(web, "carol")] == ["check-failed"]


def test_disabled_repositories_and_passed_checks_do_not_alert(
    alerts_config: Config, clock: Clock, web: Web
) -> None:
    off = hooked(alerts_config, web, "dave/old")
    failed_check(off, clock() - dt.timedelta(hours=1))
    Repository.update(mode="disabled").where(Repository.id == off).execute()
    fine = make_repo(
        alerts_config, "dave/new", created=clock() - dt.timedelta(days=1), alert_after=None
    )
    Repository.update(last_check=naive(clock()), last_check_ok=True).where(
        Repository.id == fine
    ).execute()
    report = alerts.check_alerts(alerts_config, clock)
    assert report.firing == 0 and web.requests == []


# -- lock-stuck from the daemon's session rows ------------------------------------------------


def open_session(repo: int, lock_since: dt.datetime, **values: object) -> int:
    row = BorgSession.create(
        repository=repo,
        key_name=values.get("key_name", "laptop-key"),
        key_fingerprint="SHA256:" + "k" * 43,
        source=values.get("source", "192.0.2.7"),
        source_port=50022,
        host=values.get("host", "storage-2.example.org"),
        pid=values.get("pid", 4242),
        program="borg",
        started=naive(lock_since - dt.timedelta(minutes=1)),
        lock_since=naive(lock_since),
    )
    return int(row.id)


def test_session_holding_the_lock_past_the_limit_alerts_and_recovers_when_it_ends(
    alerts_config: Config, clock: Clock, web: Web
) -> None:
    config = with_lock_limit(alerts_config, "2h")
    # A repository whose directory is not on this host: the store's rows are what counts.
    repo = hooked(config, web, "erin/desktop")
    since = clock() - dt.timedelta(hours=3)
    session = open_session(repo, since)
    young = hooked(config, web, "erin/phone")
    open_session(young, clock() - dt.timedelta(hours=1), pid=4343)

    report = alerts.check_alerts(config, clock)

    assert report.firing == 1
    [body] = bodies(web, "erin")
    assert set(body) == WEBHOOK_KEYS | {"lock"}
    assert body["event"] == "lock-stuck" and body["repository"] == "erin/desktop"
    assert body["lock"] == {
        "since": since.isoformat(),
        "pid": 4242,
        "host": "storage-2.example.org",
        "key": "laptop-key",
        "source": "192.0.2.7",
        "session": session,
        "alert_after": 2 * HOUR,
    }
    text = str(body["text"])
    assert "pid 4242" in text and "laptop-key" in text and "192.0.2.7" in text
    assert f"borghive session kill {session}" in text
    assert "locked for 3h" in str(body["subject"])
    [firing] = [f for f in alerts.list_firing(config, clock) if f.kind == "lock-stuck"]
    assert firing.detail is not None and "pid 4242" in firing.detail

    clock.advance(minutes=50)  # the phone's lock is still younger than the limit
    assert alerts.check_alerts(config, clock).deliveries == ()  # before the re-alert interval

    BorgSession.update(ended=naive(clock()), end_reason="killed").where(
        BorgSession.id == session
    ).execute()
    report = alerts.check_alerts(config, clock)
    assert [d.event for d in report.deliveries] == ["lock-released"]
    released = bodies(web, "erin")[-1]
    assert released["event"] == "lock-released"
    assert released["lock"]["released"] is True  # type: ignore[index]
    assert str(released["lock"]["holder"]).startswith(f"session {session} (pid 4242")  # type: ignore[index]
    assert AlertState.select().where(AlertState.kind == "lock-stuck").count() == 0


def test_the_default_limit_is_six_hours(alerts_config: Config, clock: Clock, web: Web) -> None:
    repo = hooked(alerts_config, web, "fay/box")
    open_session(repo, clock() - dt.timedelta(hours=5, minutes=50))
    assert alerts.check_alerts(alerts_config, clock).firing == 0
    clock.advance(minutes=11)
    assert alerts.check_alerts(alerts_config, clock).firing == 1
    assert bodies(web, "fay")[0]["lock"]["alert_after"] == 6 * HOUR  # type: ignore[index]


def test_a_local_repository_without_lock_files_is_not_stuck_whatever_a_row_says(
    alerts_config: Config, clock: Clock, web: Web
) -> None:
    config = with_lock_limit(alerts_config, "1h")
    repo = hooked(config, web, "gus/laptop")
    path = Path(repository_path(config.repos.root, f"{_user(repo)}", "laptop"))
    path.mkdir(parents=True, exist_ok=True)  # here, and unlocked
    open_session(repo, clock() - dt.timedelta(hours=5))
    assert alerts.check_alerts(config, clock).firing == 0
    assert web.requests == []


def _user(repo: int) -> str:
    return str(Repository.get_by_id(repo).repo_user)


# -- lock-stuck from real lock files ----------------------------------------------------------


@pytest.fixture
def locked_repository(
    alerts_config: Config, web: Web, tmp_path: Path
) -> Iterator[tuple[Config, int, subprocess.Popen[bytes], Path]]:
    """A real repository (``borg init``) at its place under the repos root, held by a real
    ``borg with-lock … sleep`` started with the forced command's key marker."""
    config = with_lock_limit(alerts_config, "1h")
    repo = hooked(config, web, "hana/laptop")
    key = SshKey.create(
        owner=User.get(User.name == "hana"),
        name="hana-laptop",
        key_type="ssh-ed25519",
        bits=256,
        public_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOxk",
        fingerprint="SHA256:hanalaptopfingerprint",
    )
    path = Path(repository_path(config.repos.root, _user(repo), "laptop"))
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.rmdir()
    borg("init", "--encryption=none", str(path), cwd=tmp_path)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "BORG_BASE_DIR": str(tmp_path / ".borg-base"),
        "BORGHIVE_KEY": str(key.fingerprint),
        "SSH_CONNECTION": "198.51.100.9 40404 127.0.0.1 22",
    }
    holder = subprocess.Popen([BORG, "with-lock", str(path), "sleep", "120"], env=env)
    deadline = time.monotonic() + 30
    while not (path / "lock.exclusive").is_dir() or not os.listdir(path / "lock.exclusive"):
        assert time.monotonic() < deadline, "borg with-lock took no lock"
        assert holder.poll() is None, "borg with-lock ended"
        time.sleep(0.05)
    try:
        yield config, repo, holder, path
    finally:
        if holder.poll() is None:
            holder.terminate()
        holder.wait(30)


def backdate_lock(path: Path, seconds: float) -> float:
    when = time.time() - seconds
    for name in ("lock.exclusive", "lock.roster"):
        if (path / name).exists():
            os.utime(path / name, (when, when))
    return when


def test_real_lock_held_past_the_limit_alerts_naming_the_process_and_key(
    locked_repository: tuple[Config, int, subprocess.Popen[bytes], Path],
    clock: Clock,
    web: Web,
) -> None:
    config, _, holder, path = locked_repository
    # Held for a minute only: not stuck.
    assert alerts.check_alerts(config, clock).firing == 0
    when = backdate_lock(path, 2 * HOUR)

    report = alerts.check_alerts(config, clock)

    assert report.firing == 1 and report.failed == 0
    [body] = bodies(web, "hana")
    assert body["event"] == "lock-stuck" and set(body) == WEBHOOK_KEYS | {"lock"}
    lock = body["lock"]
    assert isinstance(lock, dict)
    assert lock["pid"] == holder.pid and lock["session"] is None
    assert lock["key"] == "hana-laptop" and lock["source"] == "198.51.100.9"
    assert lock["since"] == dt.datetime.fromtimestamp(int(when), dt.UTC).isoformat()
    assert f"borghive session kill {holder.pid}" in str(body["text"])
    assert alerts.check_alerts(config, clock).deliveries == ()  # not repeated

    # The client ends: borg removes its lock, and the owner hears that it is gone.
    holder.send_signal(signal.SIGTERM)
    holder.wait(30)
    assert not (path / "lock.exclusive").exists()
    report = alerts.check_alerts(config, clock)
    assert [d.event for d in report.deliveries] == ["lock-released"]
    assert bodies(web, "hana")[-1]["event"] == "lock-released"
    assert any("released" in detail for detail in events("recovered"))


def test_a_lock_left_by_a_dead_process_is_not_stuck(
    locked_repository: tuple[Config, int, subprocess.Popen[bytes], Path],
    clock: Clock,
    web: Web,
) -> None:
    config, _, holder, path = locked_repository
    backdate_lock(path, 2 * HOUR)
    alerts.check_alerts(config, clock)
    assert [b["event"] for b in bodies(web, "hana")] == ["lock-stuck"]
    # SIGKILL leaves the lock files behind; borg breaks such a lock at the next access,
    # so nothing is stuck, and the alert is over.
    children = Path(f"/proc/{holder.pid}/task/{holder.pid}/children").read_text().split()
    holder.kill()
    holder.wait(30)
    for child in children:  # the sleep borg started, by its pid
        os.kill(int(child), signal.SIGKILL)
    assert (path / "lock.exclusive").is_dir()
    report = alerts.check_alerts(config, clock)
    assert report.firing == 0
    assert [d.event for d in report.deliveries] == ["lock-released"]


def test_every_upkeep_kind_is_a_known_alert_kind() -> None:
    from borghive.service.alerts.upkeep_messages import UPKEEP_KINDS
    from borghive.store.models import ALERT_KINDS

    assert set(UPKEEP_KINDS) <= set(ALERT_KINDS)
    assert all(len(kind) <= 16 for kind in ALERT_KINDS)


def test_alert_events_name_the_kind(alerts_config: Config, clock: Clock, web: Web) -> None:
    repo = hooked(alerts_config, web, "ivy/pc")
    failed_check(repo, clock() - dt.timedelta(hours=1))
    alerts.check_alerts(alerts_config, clock)
    [event] = Event.select().where(Event.kind == "alert", Event.repository == repo)
    assert "check-failed" in event.detail and DAMAGE in event.detail
