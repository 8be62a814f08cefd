"""The login path's copy of the configuration (login_copy.write_login_cache): used only while
current and trustworthy, never able to change an answer, only to make it cheaper."""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
from pathlib import Path

import pytest

from borghive import config_load
from borghive.config import Config
from borghive.login import cache as login_copy
from borghive.login.cache import file_identity, write_login_cache
from tests.harness.authkeys import (
    SSHD_ENV,
    add_key,
    assert_answer,
    assert_refused,
    borg_line,
    create_repository,
    run_authkeys,
)
from tests.harness.environment import BORGHIVE
from tests.harness.keys import PublicKey

pytestmark = pytest.mark.e2e

HEAVY = ("borghive.config", "tomllib", "dataclasses", "typing", "pathlib", "re", "hashlib")


def probe_modules(config_file: Path, user: str) -> list[str]:
    """Run authkeys in a fresh interpreter and list the heavy modules it imported beyond
    what the interpreter's start-up imports anyway (an editable install's finder loads
    pathlib and re from site)."""
    return sorted(set(_heavy_modules(config_file, user)) - set(_heavy_modules(None, "")))


def _heavy_modules(config_file: Path | None, user: str) -> list[str]:
    if config_file is None:
        code = (
            f"import sys\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], env=SSHD_ENV, capture_output=True, text=True,
            check=True,
        )  # fmt: skip
        return list(eval(result.stderr.strip().splitlines()[-1]))  # noqa: S307
    code = (
        "import sys\n"
        f"sys.argv = ['borghive', '--config', {str(config_file)!r}, 'authkeys', {user!r}]\n"
        "import borghive.entry\n"
        "try:\n    borghive.entry.main()\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=SSHD_ENV, capture_output=True, text=True, check=True
    )
    return list(eval(result.stderr.strip().splitlines()[-1]))  # noqa: S307 - our own output


@pytest.fixture
def granted(alice: Config, config_file: Path, public_keys: list[PublicKey]) -> tuple[str, str]:
    """alice/laptop with one full key; returns (repository user, expected answer)."""
    add_key("alice", public_keys[0], "laptop")
    user = create_repository(alice, "alice/laptop", full=("laptop",))
    return user, borg_line(alice, user, "laptop", public_keys[0], "laptop")


def cache_of(config_file: Path) -> Path:
    return Path(str(config_file) + login_copy.LOGIN_CACHE_SUFFIX)


def test_a_current_copy_is_used_and_the_config_loader_is_not_imported(
    alice: Config, config_file: Path, granted: tuple[str, str], backend: str
) -> None:
    user, expected = granted
    assert "borghive.config" in probe_modules(config_file, user)  # no copy: full loader
    copy = write_login_cache(load(config_file), environ={})

    assert copy == cache_of(config_file)
    assert_answer(run_authkeys(config_file, user), expected)
    # neither path imports any of these: PostgreSQL's goes through ctypes, not psycopg2
    # (which needs re and pathlib), with the URL already split and its own password reader
    assert probe_modules(config_file, user) == []


def test_the_store_password_file_is_read_without_the_config_loader(
    alice: Config, config_file: Path, granted: tuple[str, str], tmp_path: Path
) -> None:
    """(The test server trusts every connection: the password is sent but not checked.) On
    PostgreSQL authkeys reads the login snapshot and never the password: an empty password
    file changes nothing at login."""
    user, expected = granted
    password_file = tmp_path / "store-password"
    password_file.write_text("s3cret\n")
    text = config_file.read_text().replace(
        "[store]\n", f'[store]\npassword_file = "{password_file}"\n'
    )
    config_file.write_text(text)
    assert write_login_cache(load(config_file), environ={}) == cache_of(config_file)

    assert_answer(run_authkeys(config_file, user), expected)
    assert probe_modules(config_file, user) == []
    password_file.write_text("\n")
    assert_answer(run_authkeys(config_file, user), expected)


def test_a_stale_copy_is_ignored(
    alice: Config, config_file: Path, granted: tuple[str, str]
) -> None:
    user, expected = granted
    write_login_cache(load(config_file), environ={})
    text = config_file.read_text()
    config_file.write_text(text + '[borg]\npath = "/opt/borg/bin/borg"\n')

    result = run_authkeys(config_file, user)

    assert_answer(result, expected.replace("/usr/bin/borg", "/opt/borg/bin/borg"))
    assert probe_modules(config_file, user) != []


@pytest.mark.parametrize("mode", [0o664, 0o646])
def test_a_copy_others_could_write_is_ignored(
    alice: Config, config_file: Path, granted: tuple[str, str], mode: int
) -> None:
    user, expected = granted
    copy = write_login_cache(load(config_file), environ={})
    assert copy is not None
    forge(copy, borg_path="/tmp/evil")
    copy.chmod(mode)

    assert_answer(run_authkeys(config_file, user), expected)


def test_a_copy_owned_by_someone_else_is_ignored(
    alice: Config, config_file: Path, granted: tuple[str, str]
) -> None:
    user, expected = granted
    copy = write_login_cache(load(config_file), environ={})
    assert copy is not None
    forge(copy, borg_path="/tmp/evil")
    os.chown(copy, 65534, 65534)

    assert_answer(run_authkeys(config_file, user), expected)


def test_environment_overrides_bypass_the_copy(
    alice: Config, config_file: Path, granted: tuple[str, str]
) -> None:
    user, expected = granted
    assert write_login_cache(load(config_file), environ={"BORGHIVE_BORG_UMASK": "0027"}) is None
    write_login_cache(load(config_file), environ={})

    result = run_authkeys(config_file, user, env={**SSHD_ENV, "BORGHIVE_BORG_UMASK": "0027"})

    assert_answer(result, expected.replace("--umask 0077", "--umask 0027"))


def test_a_forged_current_copy_still_cannot_inject(
    alice: Config, config_file: Path, granted: tuple[str, str]
) -> None:
    """Even a copy root wrote with hostile values is validated like the file would be."""
    user, _ = granted
    copy = write_login_cache(load(config_file), environ={})
    assert copy is not None
    forge(copy, borg_path='/usr/bin/borg" evil')

    assert_refused(run_authkeys(config_file, user))


@pytest.mark.parametrize(
    "values",
    [{"store_port": "5432"}, {"store_port": 0}, {"store_host": "db\0"}, {"store_user": 7}],
    ids=["port-text", "port-zero", "host-nul", "user-number"],
)
def test_a_copy_with_store_values_libpq_cannot_take_falls_back(
    alice: Config, config_file: Path, granted: tuple[str, str], values: dict[str, object]
) -> None:
    user, expected = granted
    copy = write_login_cache(load(config_file), environ={})
    assert copy is not None
    # a valid borg path too: the answer shows whether the copy was used
    forge(copy, borg_path="/opt/forged/borg", **values)

    assert_answer(run_authkeys(config_file, user), expected)


def test_a_corrupt_copy_falls_back(
    alice: Config, config_file: Path, granted: tuple[str, str]
) -> None:
    user, expected = granted
    copy = write_login_cache(load(config_file), environ={})
    assert copy is not None
    copy.write_bytes(b"\x00not marshal")

    assert_answer(run_authkeys(config_file, user), expected)


def test_config_check_writes_the_copy(alice: Config, config_file: Path) -> None:
    result = subprocess.run(
        [str(BORGHIVE), "--config", str(config_file),
         "config", "check"],
        env=SSHD_ENV, capture_output=True, text=True, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert f"login path copy refreshed: {cache_of(config_file)}" in result.stdout
    payload = marshal.loads(cache_of(config_file).read_bytes())  # noqa: S302 - test's own
    assert payload["settings"]["store_url"] == alice.store.url
    assert payload["identity"] == file_identity(str(config_file))


def load(config_file: Path) -> Config:
    return config_load.load_config(config_file, environ={})


def forge(copy: Path, **settings: object) -> None:
    """Rewrite a current copy with other settings, keeping it current."""
    payload = marshal.loads(copy.read_bytes())  # noqa: S302 - the test's own file
    payload["settings"].update(settings)
    copy.write_bytes(marshal.dumps(payload))
