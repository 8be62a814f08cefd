"""On any error ``borghive authkeys`` prints nothing and exits non-zero, so sshd refuses the
key: a missing, unreadable or outdated store, an unreachable server, a bad configuration,
bad arguments, and rows tampered with behind the services' back (the whole answer is then
refused, never a partial answer or an injected line)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from borghive.config import Config
from borghive.config_load import load_config
from borghive.errors import ConfigError
from tests.harness.authkeys import (
    add_key,
    assert_refused,
    create_repository,
    run_authkeys,
    run_many,
    tamper,
)
from tests.harness.config import config_toml, make_config
from tests.harness.keys import PublicKey
from tests.harness.net import free_port

pytestmark = pytest.mark.e2e


def _config_file(directory: Path, store_url: str) -> Path:
    path = directory / "borghive.toml"
    path.write_text(config_toml(make_config(directory, store_url)))
    path.chmod(0o644)
    return path


def test_store_file_missing(tmp_path: Path) -> None:
    store = tmp_path / "missing" / "borghive.db"
    config_file = _config_file(tmp_path, f"sqlite:///{store}")

    assert_refused(run_authkeys(config_file, "rabcdefg"))
    assert not store.parent.exists()


def test_store_is_a_directory(tmp_path: Path) -> None:
    config_file = _config_file(tmp_path, f"sqlite:///{tmp_path}")

    assert_refused(run_authkeys(config_file, "rabcdefg"))


def test_store_is_not_a_database(tmp_path: Path) -> None:
    store = tmp_path / "borghive.db"
    store.write_bytes(b"this is not an SQLite database, just text\n" * 100)
    config_file = _config_file(tmp_path, f"sqlite:///{store}")

    assert_refused(run_authkeys(config_file, "rabcdefg"))


def test_store_unreadable_by_the_reader(world_readable: Path, public_keys: list[PublicKey]) -> None:
    from borghive.service.users import people as users
    from borghive.store import open_store
    from borghive.store.migrations import apply_migrations

    store = world_readable / "borghive.db"
    config = make_config(world_readable, f"sqlite:///{store}")
    with open_store(config.store, check_schema=False, create=True) as db:
        apply_migrations(db)
        users.add_user("alice")
        add_key("alice", public_keys[0], "laptop")
        repo_user = create_repository(config, "alice/photos", full=("laptop",))
    config_file = _config_file(world_readable, config.store.url)
    assert run_authkeys(config_file, repo_user, as_nobody=True).stdout.count(b"\n") == 1
    store.chmod(0o000)

    assert_refused(run_authkeys(config_file, repo_user, as_nobody=True))


def test_store_without_schema(config: Config, config_file: Path) -> None:
    if config.store.url.startswith("sqlite"):
        Path(config.store.url.removeprefix("sqlite://")).touch()

    assert_refused(run_authkeys(config_file, "rabcdefg"))


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM schema_migration",
        # the newest row only: with several migrations, setting all to 0 breaks the key
        "UPDATE schema_migration SET version = 0 "
        "WHERE version = (SELECT MAX(version) FROM schema_migration)",
        "INSERT INTO schema_migration (version, description, applied) "
        "VALUES (999, 'from the future', CURRENT_TIMESTAMP)",
    ],
    ids=["no-row", "version-0", "newer"],
)
def test_store_schema_not_this_version(
    alice: Config, public_keys: list[PublicKey], config_file: Path, sql: str
) -> None:
    add_key("alice", public_keys[0], "laptop")
    repo_user = create_repository(alice, "alice/photos", full=("laptop",))
    tamper(sql)

    assert_refused(run_authkeys(config_file, repo_user))
    assert_refused(run_authkeys(config_file, repo_user, "ssh-ed25519", public_keys[0].blob))


def test_postgresql_on_a_closed_port(tmp_path: Path) -> None:
    config_file = _config_file(tmp_path, f"postgresql://postgres@127.0.0.1:{free_port()}/db")

    started = time.monotonic()
    result = run_authkeys(config_file, "rabcdefg")

    assert_refused(result)
    assert time.monotonic() - started < 5


def test_postgresql_password_file_unreadable(tmp_path: Path) -> None:
    config_file = _config_file(tmp_path, f"postgresql://postgres@127.0.0.1:{free_port()}/db")
    text = config_file.read_text().replace(
        "[repos]\n", f'password_file = "{tmp_path}/missing-password"\n[repos]\n', 1
    )
    config_file.write_text(text)

    assert_refused(run_authkeys(config_file, "rabcdefg"))


# name: (how the valid file's text is changed, what load_config then says)
INVALID_CONFIGURATIONS: dict[str, tuple[Callable[[str], str], str]] = {
    "not-toml": (lambda text: text + "[store\n", "not valid TOML"),
    "unknown-section": (lambda text: text + "[nonsense]\n", "nonsense: unknown section"),
    "unknown-key": (
        lambda text: text.replace("[store]\n", "[store]\nulr = 1\n"),
        "store.ulr: unknown key",
    ),
    "wrong-type": (
        lambda text: re.sub(r"(?m)^root = .*$", "root = 1", text),
        "repos.root: expected a path",
    ),
    "root-escapes": (
        lambda text: re.sub(r"(?m)^root = .*$", 'root = "/repos/../etc"', text),
        "repos.root: must be an absolute path",
    ),
    "borg-path-with-option": (
        lambda text: text + '[borg]\npath = "/usr/bin/borg --debug"\n',
        "borg.path: must be an absolute path",
    ),
    "borg-path-with-quote": (
        lambda text: text + '[borg]\npath = "/usr/bin/borg\\"x"\n',
        "borg.path: must be an absolute path",
    ),
    "umask-with-command": (
        lambda text: text + '[borg]\numask = "0077; id"\n',
        "borg.umask: expected an octal umask",
    ),
    "rrsync-relative": (
        lambda text: text + '[borg]\nrrsync_path = "relative/rrsync"\n',
        "borg.rrsync_path: must be an absolute path",
    ),
    "busy-timeout-zero": (
        lambda text: re.sub(r"(?m)^busy_timeout = .*$", "busy_timeout = 0", text),
        "store: timeouts must be positive and finite",
    ),
    "not-utf-8": (lambda text: text + "# \udcff\n", "not UTF-8"),
}


def test_invalid_configuration(
    alice: Config, public_keys: list[PublicKey], config_file: Path, tmp_path: Path
) -> None:
    add_key("alice", public_keys[0], "laptop")
    repo_user = create_repository(alice, "alice/photos", full=("laptop",))
    assert run_authkeys(config_file, repo_user).stdout.count(b"\n") == 1
    invalid_files = []
    for name, (change, problem) in INVALID_CONFIGURATIONS.items():
        path = tmp_path / f"{name}.toml"
        path.write_bytes(change(config_file.read_text()).encode("utf-8", "surrogateescape"))
        with pytest.raises(ConfigError, match=re.escape(problem)):  # invalid for this reason
            load_config(path, environ={})
        invalid_files.append(path)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda path: run_authkeys(path, repo_user), invalid_files))

    outcomes = {
        name: (result.returncode != 0, result.stdout)
        for name, result in zip(INVALID_CONFIGURATIONS, results, strict=True)
    }
    assert outcomes == dict.fromkeys(INVALID_CONFIGURATIONS, (True, b""))


def test_configuration_file_missing_or_a_directory(tmp_path: Path) -> None:
    assert_refused(run_authkeys(tmp_path / "missing.toml", "rabcdefg"))
    assert_refused(run_authkeys(tmp_path, "rabcdefg"))


@pytest.mark.parametrize(
    "arguments",
    [
        [],
        ["rabcdefg", "ssh-ed25519"],
        ["rabcdefg", "ssh-ed25519", "AAAA", "extra"],
    ],
    ids=["no-user", "type-without-key", "too-many"],
)
def test_bad_arguments(tmp_path: Path, arguments: list[str]) -> None:
    config_file = _config_file(tmp_path, f"sqlite:///{tmp_path}/borghive.db")

    assert_refused(run_authkeys(config_file, *arguments))


# What a tampering changes: (table, row, SQL assignments, values). ``row`` is the tampered
# key ("laptop"), the repository or laptop's access; ``laptop`` and ``other`` are PublicKeys.
TAMPERINGS: dict[str, tuple[str, str, Any]] = {
    "key-newline-second-line": (
        "ssh_key",
        "public_key = {p}",
        lambda laptop, other: (f"{laptop.text}\n{other.text}",),
    ),
    "key-newline-option-line": (
        "ssh_key",
        "public_key = {p}",
        lambda laptop, other: (f'{laptop.text}\ncommand="/bin/sh" {other.text}',),
    ),
    "key-double-quote": ("ssh_key", "public_key = {p}", lambda laptop, other: (f'{laptop.text}"',)),
    "key-option-prefix": (
        "ssh_key",
        "public_key = {p}",
        lambda laptop, other: (f'command="/bin/sh" {laptop.text}',),
    ),
    "key-trailing-option": (
        "ssh_key",
        "public_key = {p}",
        lambda laptop, other: (f'{laptop.text} ,command="/bin/sh"',),
    ),
    "key-type-not-allowed": (
        "ssh_key",
        "key_type = 'ssh-dss', public_key = {p}",
        lambda laptop, other: (f"ssh-dss {laptop.blob}",),
    ),
    "key-type-with-quote": (
        "ssh_key",
        "key_type = {p}, public_key = {p}",
        lambda laptop, other: ('ssh-ed25519"', f'ssh-ed25519" {laptop.blob}'),
    ),
    "key-name-with-newline": ("ssh_key", "name = {p}", lambda laptop, other: ("lap\ntop",)),
    "key-name-with-quote": ("ssh_key", "name = {p}", lambda laptop, other: ('lap"top',)),
    "key-name-with-space": ("ssh_key", "name = {p}", lambda laptop, other: ("lap top",)),
    "repository-name-with-quote": ("repository", "name = {p}", lambda laptop, other: ('pho"tos',)),
    "repository-name-with-option": (
        "repository",
        "name = {p}",
        lambda laptop, other: ("photos --append-only",),
    ),
    "repository-name-escapes": ("repository", "name = {p}", lambda laptop, other: ("..",)),
    "quota-negative": ("repository", "quota = {p}", lambda laptop, other: (-1,)),
    "quota-zero": ("repository", "quota = {p}", lambda laptop, other: (0,)),
    "key-from-with-quote": (
        "ssh_key",
        "allowed_from = {p}",
        lambda laptop, other: ('192.0.2.1",command="/bin/sh',),
    ),
    "key-from-host-name": (
        "ssh_key",
        "allowed_from = {p}",
        lambda laptop, other: ("*.example.org",),
    ),
    "key-from-empty": ("ssh_key", "allowed_from = {p}", lambda laptop, other: ("",)),
    "access-from-with-quote": (
        "access",
        "allowed_from = {p}",
        lambda laptop, other: ('198.51.100.1" ,command="/bin/sh',),
    ),
    "access-from-empty": ("access", "allowed_from = {p}", lambda laptop, other: ("",)),
}
SQLITE_ONLY_TAMPERINGS: dict[str, tuple[str, str, Any]] = {  # PostgreSQL's BIGINT refuses these
    "quota-text": ("repository", "quota = {p}", lambda laptop, other: ("1000 --append-only",)),
    "quota-fraction": ("repository", "quota = {p}", lambda laptop, other: (1.5,)),
}
# A key whose type was changed no longer matches the offered key's type: nothing is printed,
# and that is an answer (exit 0), not a refusal.
TYPE_CHANGED = {"key-type-not-allowed", "key-type-with-quote"}


def test_tampered_rows_refuse_the_whole_answer(
    backend: str, alice: Config, public_keys: list[PublicKey], config_file: Path
) -> None:
    """Each tampering gets its own repository (its own repository user) opened by a shared
    untampered key ``desktop`` and its own key ``laptop-N`` restricted to 192.0.2.0/24, so
    a partial answer would show as desktop's line."""
    from borghive.store.models import Access, Repository, SshKey

    tamperings = dict(TAMPERINGS)
    if backend == "sqlite":
        tamperings.update(SQLITE_ONLY_TAMPERINGS)
    assert len(tamperings) + 2 <= len(public_keys)
    desktop, other = public_keys[0], public_keys[1]
    add_key("alice", desktop, "desktop")
    control = create_repository(alice, "alice/control", full=("desktop",), quota=10**9)
    repo_users = {}
    for number, (what, (table, assignments, values)) in enumerate(tamperings.items()):
        laptop = public_keys[number + 2]
        add_key("alice", laptop, f"laptop-{number}", allowed_from="192.0.2.0/24")
        repo_users[what] = create_repository(
            alice, f"alice/photos-{number}", full=("desktop", f"laptop-{number}"), quota=10**9
        )
        key_id = SshKey.get(SshKey.name == f"laptop-{number}").id
        repo_id = Repository.get(Repository.name == f"photos-{number}").id
        row = {
            "ssh_key": key_id,
            "repository": repo_id,
            "access": Access.get((Access.key == key_id) & (Access.repository == repo_id)).id,
        }[table]
        sql = f"UPDATE {table} SET {assignments} WHERE id = {{p}}"  # noqa: S608 - constants
        tamper(sql, *values(laptop, other), row)
    calls: list[tuple[str, ...]] = [(control,)]
    for number, repo_user in enumerate(repo_users.values()):
        laptop = public_keys[number + 2]
        calls += [(repo_user,), (repo_user, laptop.key_type, laptop.blob)]

    results = run_many(config_file, calls)

    assert (results[0].returncode, results[0].stdout.count(b"\n")) == (0, 1)
    outcomes = {}
    for what, whole, offered in zip(tamperings, results[1::2], results[2::2], strict=True):
        outcomes[what] = (
            whole.returncode != 0,
            whole.stdout,
            offered.returncode != 0,
            offered.stdout,
        )
    assert outcomes == {what: (True, b"", what not in TYPE_CHANGED, b"") for what in tamperings}
