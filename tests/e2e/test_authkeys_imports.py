"""The login path as a checked contract: ``borghive authkeys``, started as sshd starts it in
a fresh interpreter, imports nothing beyond an explicit allowlist, on SQLite and on
PostgreSQL, for a whole user and for one offered key, and with or without the login copy.

A module may only join the allowlist with a measured reason (``benchmarks/bench_authkeys.py``
prints the cost of each phase): every import is paid by every key of every SSH login.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from borghive.config import Config
from borghive.config_load import load_config
from borghive.login.cache import write_login_cache
from tests.harness.authkeys import SSHD_ENV, add_key, borg_line, create_repository, refresh_for
from tests.harness.keys import PublicKey

pytestmark = pytest.mark.e2e

# What authkeys may import beyond what the interpreter has loaded at start-up.
ALLOWED = frozenset(
    {
        # borghive: the entry point, the login package, and the stdlib-only rules it shares
        "borghive",
        "borghive.entry",
        "borghive.errors",
        "borghive.login",
        "borghive.login.authkeys",
        "borghive.login.configfiles",
        "borghive.login.lines",
        "borghive.login.query",
        "borghive.login.settings",
        "borghive.login.storeurl",
        "borghive.rules",
        "borghive.rules.keytypes",
        "borghive.rules.layout",
        "borghive.rules.names",
        # the store, or on PostgreSQL the login snapshot: SQLite's C module (never libpq)
        "_sqlite3",
        # a key's fingerprint without hashlib (CPython 3.11: _sha256; 3.12 and later: _sha2)
        "binascii",
        "_sha256",
        "_sha2",
        # the one line logged when a key is refused
        "syslog",
    }
)
# Without a current login copy authkeys loads the file with the strict loader: slower, but
# still none of the command-line suite's libraries.
NEVER = ("typer", "rich", "click", "peewee", "ldap3", "psycopg2", "pyinotify", "borghive.cli")

PROBE = """
import sys
started = set(sys.modules)
sys.argv = ["borghive", *sys.argv[1:]]
import borghive.entry
try:
    borghive.entry.main()
except SystemExit as stop:
    status = stop.code
sys.stdout.flush()
print(repr((status, sorted(set(sys.modules) - started))), file=sys.stderr)
"""


def imported(config_file: Path, *arguments: str) -> tuple[object, str, list[str]]:
    """(exit status, output, modules imported) of authkeys in a fresh interpreter with
    sshd's environment, through the console script's entry point (on PostgreSQL, from the
    login snapshot, rebuilt first)."""
    refresh_for(config_file)
    result = subprocess.run(
        [sys.executable, "-c", PROBE, "--config", str(config_file), "authkeys", *arguments],
        env=SSHD_ENV,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    status, modules = ast.literal_eval(result.stderr.strip().splitlines()[-1])
    return status, result.stdout, list(modules)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def test_authkeys_imports_only_the_allowlist(
    alice: Config, config_file: Path, public_keys: list[PublicKey], backend: str
) -> None:
    add_key("alice", public_keys[0], "laptop")
    user = create_repository(alice, "alice/laptop", full=("laptop",))
    expected = borg_line(alice, user, "laptop", public_keys[0], "laptop")
    assert write_login_cache(load_config(config_file, environ={}), environ={}) is not None

    for arguments in ((user,), (user, public_keys[0].key_type, public_keys[0].blob)):
        status, output, modules = imported(config_file, *arguments)
        assert (status, output) == (0, expected)
        assert sorted(set(modules) - ALLOWED) == []
        assert "_sqlite3" in modules  # the store, or on PostgreSQL the snapshot


def test_without_a_login_copy_no_command_line_library_is_imported(
    alice: Config, config_file: Path, public_keys: list[PublicKey]
) -> None:
    add_key("alice", public_keys[0], "laptop")
    user = create_repository(alice, "alice/laptop", full=("laptop",))

    status, output, modules = imported(config_file, user)

    assert (status, output) == (0, borg_line(alice, user, "laptop", public_keys[0], "laptop"))
    assert "borghive.config" in modules  # the strict loader ran: there was no copy
    assert [m for m in modules if m.split(".")[0] in NEVER or m.startswith(NEVER)] == []


def test_a_refusal_imports_only_the_allowlist(tmp_path: Path) -> None:
    """A store that cannot be opened: refused (exit 1, nothing printed, one syslog line)
    without importing more than an answer would."""
    config_file = tmp_path / "borghive.toml"
    config_file.write_text(f'[store]\nurl = "sqlite:///{tmp_path}/missing/borghive.db"\n')
    assert write_login_cache(load_config(config_file, environ={}), environ={}) is not None

    status, output, modules = imported(config_file, "rabcdefgh")

    assert (status, output) == (1, "")
    assert "syslog" in modules
    assert sorted(set(modules) - ALLOWED) == []
