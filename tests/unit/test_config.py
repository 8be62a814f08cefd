"""load_config, read_secret and config_as_dict: files, environment, precedence, errors."""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from borghive.config import SECTIONS, Config
from borghive.config_load import DEFAULT_CONFIG_PATH, config_as_dict, load_config
from borghive.config_parse import MAX_CONFIG_BYTES
from borghive.errors import EXIT_CONFIG, ConfigError
from borghive.login.configfiles import read_secret

EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "etc" / "borghive.toml"


def write(tmp_path: Path, text: str, name: str = "borghive.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def config_error(path: Path | None, environ: dict[str, str]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ)
    assert caught.value.exit_code == EXIT_CONFIG == 78
    return caught.value


def problem_lines(error: ConfigError) -> list[str]:
    """The listed problems of an ``invalid configuration`` error, one per line."""
    first, *rest = error.message.splitlines()
    assert first == "invalid configuration"
    assert all(line.startswith("  ") for line in rest)
    return [line.strip() for line in rest]


@pytest.fixture
def no_default_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the default configuration path at a file that does not exist."""
    absent = tmp_path / "etc-borghive" / "borghive.toml"
    monkeypatch.setattr("borghive.config_load.DEFAULT_CONFIG_PATH", absent)
    return absent


# --- where the file comes from ---------------------------------------------------------


def test_missing_default_file_gives_the_built_in_defaults() -> None:
    if DEFAULT_CONFIG_PATH.exists():
        pytest.skip(f"{DEFAULT_CONFIG_PATH} exists on this machine; defaults cannot be seen")
    config = load_config(None, environ={})
    assert config == Config()
    assert config.source == "<built-in defaults>"
    assert config.store.url == "sqlite:////var/lib/borghive/borghive.db"
    assert config.keys.rsa_min_bits == 3072


def test_missing_default_file_is_no_error(no_default_file: Path) -> None:
    assert load_config(None, environ={}) == Config()


def test_existing_default_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, '[repos]\nhost = "default.example.org"\n')
    monkeypatch.setattr("borghive.config_load.DEFAULT_CONFIG_PATH", path)
    config = load_config(None, environ={})
    assert config.repos.host == "default.example.org"
    assert config.source == str(path)


def test_missing_file_named_in_the_environment_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "absent.toml"
    error = config_error(None, {"BORGHIVE_CONFIG": str(missing)})
    assert error.message == f"{missing}: no such file"


def test_missing_file_named_on_the_command_line_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "absent.toml"
    error = config_error(missing, {})
    assert error.message == f"{missing}: no such file"


def test_command_line_path_wins_over_the_environment_path(tmp_path: Path) -> None:
    chosen = write(tmp_path, '[repos]\nhost = "chosen.example.org"\n', "chosen.toml")
    other = write(tmp_path, '[repos]\nhost = "other.example.org"\n', "other.toml")
    config = load_config(chosen, {"BORGHIVE_CONFIG": str(other)})
    assert config.repos.host == "chosen.example.org"
    assert config.source == str(chosen)
    assert load_config(None, {"BORGHIVE_CONFIG": str(other)}).repos.host == "other.example.org"


def test_a_directory_is_not_a_config_file(tmp_path: Path) -> None:
    error = config_error(tmp_path, {})
    assert error.message == f"{tmp_path}: is a directory"


def _load_within(path: Path, seconds: float = 5.0) -> BaseException | Config:
    """load_config(path) in a daemon thread: what it returned or raised, and a failure
    (not a hung test run) when it blocks."""
    outcome: list[BaseException | Config] = []

    def load() -> None:
        try:
            outcome.append(load_config(path, {}))
        except BaseException as error:  # noqa: BLE001 - the outcome is asserted on
            outcome.append(error)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"load_config({path}) still blocked after {seconds}s"
    return outcome[0]


def test_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "borghive.toml"
    os.mkfifo(fifo)
    error = _load_within(fifo)
    assert isinstance(error, ConfigError) and error.exit_code == 78
    assert error.message.startswith(f"{fifo}: not a regular file")


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_a_device_is_refused_without_reading_it(device: str) -> None:
    error = _load_within(Path(device))
    assert isinstance(error, ConfigError) and error.exit_code == 78
    assert error.message.startswith(f"{device}: not a regular file")


def test_a_symlink_to_a_regular_file_is_read(tmp_path: Path) -> None:
    target = write(tmp_path, '[repos]\nhost = "linked.example.org"\n', "real.toml")
    link = tmp_path / "borghive.toml"
    link.symlink_to(target)
    assert load_config(link, {}).repos.host == "linked.example.org"


def test_a_file_over_one_mebibyte_is_refused(tmp_path: Path) -> None:
    exact = write(tmp_path, "#" * (MAX_CONFIG_BYTES - 1) + "\n", "exact.toml")
    assert exact.stat().st_size == MAX_CONFIG_BYTES == 1 << 20
    assert load_config(exact, {}).source == str(exact)
    larger = tmp_path / "larger.toml"
    with larger.open("wb") as handle:  # sparse: a huge file costs no disk
        handle.truncate(1 << 40)
    error = config_error(larger, {})
    assert error.message == f"{larger}: larger than 1 MiB; not a configuration file"


@pytest.mark.parametrize(
    "value",
    [
        "[" * 100_000 + "]" * 100_000,  # arrays: tomllib recurses
        "{a = " * 50_000 + "1" + "}" * 50_000,  # inline tables
        "[" * 300 + "]" * 300,  # parsed, then quoted in the type problem
    ],
    ids=["arrays", "inline-tables", "quoted"],
)
def test_deep_nesting_is_one_configuration_error(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, f"[store]\nurl = {value}\n")
    error = config_error(path, {})
    assert len(error.message) < 300
    assert "nested too deeply" in error.message or "store.url: expected a string" in error.message


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
@example(b"[store]\nurl = " + b"[" * 5000)
@example(b"\xef\xbb\xbf[store]\n")
@example(b"[a]\n" + b"[a.b]\n" * 3)
def test_any_file_content_loads_or_is_one_configuration_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "borghive.toml"
        path.write_bytes(data)
        try:
            load_config(path, {})
        except ConfigError as error:
            assert error.exit_code == 78
            assert error.message.startswith((f"{path}: ", "invalid configuration"))


def test_invalid_toml_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "[store\nurl = 'x'\n")
    error = config_error(path, {})
    assert error.message.startswith(f"{path}: not valid TOML: ")
    assert "line 1" in error.message


def test_a_file_that_is_not_utf8_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "borghive.toml"
    path.write_bytes(b'[repos]\nhost = "b\xe4ckup"\n')
    error = config_error(path, {})
    assert error.message == f"{path}: not valid TOML: not UTF-8 text"


def test_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    assert load_config(path, {}) == dataclasses.replace(Config(), source=str(path))


# --- the shipped example ---------------------------------------------------------------


def test_example_file_loads_with_its_documented_values() -> None:
    config = load_config(EXAMPLE_CONFIG, {})
    assert config.source == str(EXAMPLE_CONFIG)
    assert config.store.url == "sqlite:////var/lib/borghive/borghive.db"
    assert config.store.password_file is None
    assert config.store.busy_timeout == 10.0
    assert config.store.connect_timeout == 5.0
    assert config.repos.root == Path("/repos")
    assert config.repos.host == "backup.example.org"
    assert config.repos.ssh_port == 22
    assert config.repos.user_prefix == "r"
    assert config.repos.user_length == 8
    assert config.repos.uid_min == 200000
    assert config.repos.uid_max == 299999
    assert config.repos.gid == 200000
    assert config.repos.group == "borgrepos"
    assert config.borg.path == Path("/usr/bin/borg")
    assert config.borg.umask == "0077"
    assert config.keys.rsa_min_bits == 3072
    assert config.accounts.backend == "none"
    assert config.accounts.shell == "/bin/sh"
    assert config.ldap.url == "ldap://ldap.example.org"
    assert config.ldap.start_tls is True
    assert config.ldap.ca_file is None
    assert config.ldap.bind_dn == "cn=borghive,ou=services,dc=example,dc=org"
    assert config.ldap.bind_password_file is None
    assert config.ldap.base_dn == "dc=example,dc=org"
    assert config.ldap.users_dn == "ou=people,dc=example,dc=org"
    assert config.ldap.groups_dn == "ou=groups,dc=example,dc=org"
    assert config.ldap.user_object_class == "account"
    assert config.ldap.connect_timeout == 5.0
    assert config.ldap.operation_timeout == 10.0


def test_example_file_shows_the_built_in_defaults_except_where_it_says_so() -> None:
    # The file's header: "the values shown are the built-in defaults unless said otherwise";
    # only the example host names differ.
    from_file = config_as_dict(load_config(EXAMPLE_CONFIG, {}))
    defaults = config_as_dict(Config())
    differing = {
        f"{section}.{key}"
        for section in SECTIONS
        for key, value in from_file[section].items()
        if key != "public_host" and value != defaults[section][key]
    }
    assert differing == {"repos.host", "ldap.url", "ldap.bind_dn"}


def test_example_file_documents_every_key() -> None:
    text = EXAMPLE_CONFIG.read_text()
    documented: dict[str, set[str]] = {}
    section = ""
    for line in text.splitlines():
        header = re.fullmatch(r"\[(\w+)\]", line.strip())
        if header:
            section = header.group(1)
            documented[section] = set()
            continue
        setting = re.match(r"#? ?(\w+) = ", line)
        if section and setting:
            documented[section].add(setting.group(1))
    assert set(documented) == set(SECTIONS)
    for name, cls in SECTIONS.items():
        assert documented[name] == {item.name for item in dataclasses.fields(cls)}, name


# --- problems, all at once -------------------------------------------------------------


def test_every_problem_is_reported_together(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[bogus]
x = 1

[store]
url = "sqlite:////tmp/borghive.db"
colour = "blue"
busy_timeout = "slow"

[repos]
ssh_port = "22"
user_length = true

[ldap]
start_tls = 1

[accounts]
backend = "nis"
""",
    )
    error = config_error(path, {"BORGHIVE_KEYS_RSA_MIN_BITS": "lots"})
    assert sorted(problem_lines(error)) == sorted(
        [
            f"{path}: bogus: unknown section",
            f"{path}: store.colour: unknown key",
            f"{path}: store.busy_timeout: expected a number, got str 'slow'",
            f"{path}: repos.ssh_port: expected an integer, got str '22'",
            f"{path}: repos.user_length: expected an integer, got bool True",
            f"{path}: ldap.start_tls: expected true or false, got int 1",
            f"{path}: accounts.backend: expected one of 'none', 'ldap', 'local', got 'nis'",
            "environment BORGHIVE_KEYS_RSA_MIN_BITS: expected an integer, got 'lots'",
        ]
    )


@pytest.mark.parametrize(
    ("toml", "problem"),
    [
        ("[repos]\nroot = 5", "repos.root: expected a path, got int 5"),
        ('[repos]\nroot = ""', "repos.root: expected a path, got str ''"),
        ('[repos]\nhost = ["a", "b"]', "repos.host: expected a string, got list ['a', 'b']"),
        ("[store]\nbusy_timeout = true", "store.busy_timeout: expected a number, got bool True"),
        ("[keys]\nrsa_min_bits = 3072.0", "keys.rsa_min_bits: expected an integer, got float"),
        ("[ldap]\nstart_tls = 'yes'", "ldap.start_tls: expected true or false, got str 'yes'"),
        ("[accounts]\nbackend = 'LDAP'", "accounts.backend: expected one of 'none', 'ldap'"),
        ("[accounts]\nbackend = 1", "accounts.backend: expected one of 'none', 'ldap'"),
        ("store = 5", "store: expected a table"),
        (f"[store]\nbusy_timeout = {10**400}", "store.busy_timeout: int too large"),
    ],
)
def test_wrong_types_are_named(tmp_path: Path, toml: str, problem: str) -> None:
    path = write(tmp_path, toml + "\n")
    lines = problem_lines(config_error(path, {}))
    assert len(lines) == 1
    assert lines[0].startswith(f"{path}: {problem}")


def test_optional_paths_accept_an_empty_string_as_unset(tmp_path: Path) -> None:
    path = write(tmp_path, '[store]\npassword_file = ""\n[ldap]\nca_file = "/etc/ca.pem"\n')
    config = load_config(path, {})
    assert config.store.password_file is None
    assert config.ldap.ca_file == Path("/etc/ca.pem")


def test_integers_are_accepted_for_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, "[store]\nbusy_timeout = 3\n")
    timeout = load_config(path, {}).store.busy_timeout
    assert timeout == 3.0
    assert isinstance(timeout, float)


def test_semantic_problems_are_reported_together(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[store]
url = "mysql://db/borghive"
[repos]
root = "relative/repos"
ssh_port = 70000
user_prefix = "R"
uid_min = 500
group = "Bad Group"
[borg]
umask = "777x"
path = "borg"
[keys]
rsa_min_bits = 512
[accounts]
shell = "sh"
[ldap]
url = "http://ldap"
operation_timeout = 0
[stats]
keep_all_days = 0
time_limit = -5
jobs = 1000
""",
    )
    unsafe_path = (
        "must be an absolute path of letters, digits and . _ - + / "
        "(it goes into sshd's forced command)"
    )
    assert sorted(problem_lines(config_error(path, {}))) == sorted(
        f"{path}: {problem}"
        for problem in [
            "store.url: expected sqlite:///PATH or postgresql://HOST/DB",
            f"repos.root: {unsafe_path}",
            "repos.ssh_port: must be between 1 and 65535",
            "repos.user_prefix: must start with a lower-case letter, then a-z 0-9 _ -",
            "repos.uid_min/uid_max: need 1000 <= uid_min <= uid_max < 2^31-1",
            "repos.group: not a valid group name",
            "borg.umask: expected an octal umask such as 0077",
            f"borg.path: {unsafe_path}",
            "keys.rsa_min_bits: must be at least 1024",
            "accounts.shell: must be a plain absolute path of letters, digits and . _ - + /"
            " (it becomes the repository users' login shell)",
            "ldap.url: expected ldap://HOST[:PORT] or ldaps://HOST[:PORT]",
            "ldap: timeouts must be positive and finite",
            "stats.keep_all_days: must be at least 1",
            "stats.time_limit: must be a positive number of seconds",
            "stats.jobs: must be between 0 (one per CPU, at most 8) and 256",
        ]
    )


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0.0", "-1"])
def test_timeouts_must_be_positive_and_finite(
    tmp_path: Path, no_default_file: Path, value: str
) -> None:
    path = write(tmp_path, f"[store]\nbusy_timeout = {value}\n[ldap]\nconnect_timeout = {value}\n")
    assert problem_lines(config_error(path, {})) == [
        f"{path}: store: timeouts must be positive and finite",
        f"{path}: ldap: timeouts must be positive and finite",
    ]
    error = config_error(None, {"BORGHIVE_STORE_CONNECT_TIMEOUT": value})
    assert problem_lines(error) == [
        "<built-in defaults>: store: timeouts must be positive and finite"
    ]


# --- environment -----------------------------------------------------------------------


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[store]\nurl = "sqlite:////srv/file.db"\nbusy_timeout = 20\n'
        '[repos]\nssh_port = 2222\nhost = "file.example.org"\n',
    )
    config = load_config(
        path,
        {
            "BORGHIVE_STORE_URL": "postgresql://borghive@db.example.org/borghive",
            "BORGHIVE_REPOS_SSH_PORT": "2200",
            "BORGHIVE_LDAP_START_TLS": "off",
            "BORGHIVE_STORE_PASSWORD_FILE": "/etc/borghive/store-password",
            "BORGHIVE_ACCOUNTS_BACKEND": "ldap",
            "UNRELATED": "ignored",
        },
    )
    # environment
    assert config.store.url == "postgresql://borghive@db.example.org/borghive"
    assert config.repos.ssh_port == 2200
    assert config.ldap.start_tls is False
    assert config.store.password_file == Path("/etc/borghive/store-password")
    assert config.accounts.backend == "ldap"
    # file
    assert config.store.busy_timeout == 20.0
    assert config.repos.host == "file.example.org"
    # defaults
    assert config.repos.uid_min == 200000
    assert config.borg.umask == "0077"


def test_precedence_defaults_then_file_then_environment(tmp_path: Path) -> None:
    defaults = load_config(write(tmp_path, "", "empty.toml"), {})
    assert defaults.repos.ssh_port == 22
    path = write(tmp_path, "[repos]\nssh_port = 2222\n")
    assert load_config(path, {}).repos.ssh_port == 2222
    assert load_config(path, {"BORGHIVE_REPOS_SSH_PORT": "2200"}).repos.ssh_port == 2200
    assert load_config(None, {"BORGHIVE_CONFIG": str(path)}).repos.ssh_port == 2222


def test_environment_alone_overrides_the_defaults(no_default_file: Path) -> None:
    config = load_config(None, {"BORGHIVE_STORE_URL": "sqlite:////srv/borghive.db"})
    assert config.store.url == "sqlite:////srv/borghive.db"
    assert config.source == "<built-in defaults>"


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("BORGHIVE_REPOS_SSH_PORT", "twenty-two", "expected an integer, got 'twenty-two'"),
        ("BORGHIVE_REPOS_SSH_PORT", "", "expected an integer, got ''"),
        ("BORGHIVE_STORE_BUSY_TIMEOUT", "soon", "expected a number, got 'soon'"),
        ("BORGHIVE_LDAP_START_TLS", "maybe", "expected true or false, got 'maybe'"),
        ("BORGHIVE_ACCOUNTS_BACKEND", "nis", "expected one of 'none', 'ldap', 'local'"),
        ("BORGHIVE_REPOS_ROOT", "", "expected a path, got str ''"),
    ],
)
def test_bad_environment_values_are_named(
    tmp_path: Path, variable: str, value: str, problem: str
) -> None:
    path = write(tmp_path, "")
    lines = problem_lines(config_error(path, {variable: value}))
    assert len(lines) == 1
    assert lines[0].startswith(f"environment {variable}: {problem}")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1", True), ("TRUE", True), ("yes", True), ("On", True), ("0", False), ("no", False)],
)
def test_environment_booleans(text: str, expected: bool, tmp_path: Path) -> None:
    path = write(tmp_path, "")
    assert load_config(path, {"BORGHIVE_LDAP_START_TLS": text}).ldap.start_tls is expected


# --- secrets ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://borghive:hunter2@db.example.org/borghive",
        "postgres://borghive:hunter2@db.example.org:5432/borghive",
        "postgresql://:hunter2@db.example.org/borghive",
    ],
)
def test_password_inside_store_url_is_refused(tmp_path: Path, url: str) -> None:
    path = write(tmp_path, f'[store]\nurl = "{url}"\n')
    for error in (config_error(path, {}), config_error(None, {"BORGHIVE_STORE_URL": url})):
        assert "store.url: contains a password; put it in store.password_file" in error.message
        assert "hunter2" not in error.message


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://borghive@db.example.org:5432/borghive",
        "postgresql://db.example.org/borghive",
        "postgresql:///borghive",
        "sqlite:////var/lib/borghive/borghive.db",
    ],
)
def test_store_url_without_password_is_accepted(tmp_path: Path, url: str) -> None:
    path = write(tmp_path, f'[store]\nurl = "{url}"\n')
    assert load_config(path, {}).store.url == url


def test_read_secret_reads_the_first_line_stripped(tmp_path: Path) -> None:
    path = write(tmp_path, "  s3cret-value \nsecond line\n", "secret")
    assert read_secret(path, "store.password_file") == "s3cret-value"
    assert read_secret(write(tmp_path, "no-newline", "bare"), "x") == "no-newline"


@pytest.mark.parametrize("content", ["", "\n", "   \n", " \nhunter2\n"])
def test_read_secret_refuses_an_empty_first_line_without_showing_the_rest(
    tmp_path: Path, content: str
) -> None:
    path = write(tmp_path, content, "secret")
    with pytest.raises(ConfigError) as caught:
        read_secret(path, "store.password_file")
    assert caught.value.message == f"store.password_file: {path} is empty"
    assert caught.value.exit_code == 78


def test_read_secret_names_a_missing_or_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent"
    with pytest.raises(ConfigError) as caught:
        read_secret(missing, "ldap.bind_password_file")
    assert caught.value.message == (
        f"ldap.bind_password_file: cannot read {missing}: No such file or directory"
    )
    with pytest.raises(ConfigError) as caught:
        read_secret(tmp_path, "ldap.bind_password_file")
    assert caught.value.message == f"ldap.bind_password_file: {tmp_path} is not a regular file"


def test_read_secret_never_waits_on_a_fifo_or_reads_a_device(tmp_path: Path) -> None:
    """A FIFO without a writer would block the command (and every login) for ever; a
    device would be read without end. Both are refused before a byte is read."""
    import os

    fifo = tmp_path / "secret"
    os.mkfifo(fifo, 0o600)
    for path in (fifo, Path("/dev/zero"), Path("/dev/null")):
        with pytest.raises(ConfigError) as caught:
            read_secret(path, "store.password_file")
        assert caught.value.message == f"store.password_file: {path} is not a regular file"
    huge = tmp_path / "huge"
    huge.write_bytes(b"x" * (64 * 1024 + 1))
    with pytest.raises(ConfigError, match="larger than 65536 bytes"):
        read_secret(huge, "store.password_file")


def test_read_secret_never_shows_content_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_bytes(b"hunter2\xff\xfe\n")
    with pytest.raises(ConfigError) as caught:
        read_secret(path, "store.password_file")
    assert caught.value.message == f"store.password_file: {path} is not UTF-8 text"
    assert "hunter2" not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_config_as_dict_holds_no_secret_values(tmp_path: Path) -> None:
    store_secret = write(tmp_path, "hunter2-store\n", "store-password")
    ldap_secret = write(tmp_path, "hunter2-ldap\n", "ldap-password")
    path = write(
        tmp_path,
        f'[store]\nurl = "postgresql://borghive@db.example.org/borghive"\n'
        f'password_file = "{store_secret}"\n'
        f'[ldap]\nbind_password_file = "{ldap_secret}"\n',
    )
    shown = config_as_dict(load_config(path, {}))
    assert shown["store"]["password_file"] == str(store_secret)
    assert shown["ldap"]["bind_password_file"] == str(ldap_secret)
    assert "hunter2" not in repr(shown)
    for section in SECTIONS:
        for key in shown[section]:
            if "password" in key or "secret" in key:
                assert key.endswith("_file"), key


def test_config_as_dict_is_plain_data() -> None:
    shown = config_as_dict(Config())
    assert set(shown) == {"source", *SECTIONS}
    assert shown["source"] == "<built-in defaults>"
    assert shown["repos"]["root"] == "/repos"
    assert shown["repos"]["public_host"]  # the machine's name when no host is set
    for section in SECTIONS:
        for value in shown[section].values():
            if isinstance(value, dict):  # a table: borg.versions
                assert all(isinstance(v, str) for v in value.values())
            else:
                assert value is None or isinstance(value, str | int | float | bool)


@pytest.mark.parametrize(
    "root", ["/srv/my repos", '/srv/"repos"', "/srv/repos;rm", "/srv/../etc", "/srv/$HOME"]
)
def test_paths_unsafe_in_forced_commands_are_refused(tmp_path: Path, root: str) -> None:
    path = write(
        tmp_path,
        f"[repos]\nroot = {root!r}\n".replace("'", '"')
        if '"' not in root
        else f"[repos]\nroot = '{root}'\n",
    )
    message = config_error(path, {}).message
    assert "repos.root: must be an absolute path of letters" in message


def test_type_and_semantic_problems_are_reported_together(tmp_path: Path) -> None:
    path = write(tmp_path, '[repos]\nssh_port = "22"\nuid_min = 5\n')
    message = config_error(path, {}).message
    assert "repos.ssh_port: expected an integer" in message
    assert "repos.uid_min/uid_max: need 1000" in message


# --- numeric bounds ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "problem"),
    [
        ("[stats]\nkeep_all_days = 100000000", "stats.keep_all_days: must be 1 to 36500 days"),
        ("[stats]\nkeep_all_days = 99999999999999999", "stats.keep_all_days: must be 1 to"),
        ("[stats]\ntime_limit = 1e300", "stats.time_limit: must be greater than 0, at most 86400"),
        ("[stats]\njobs = 100000", "stats.jobs: must be between 0"),
        ("[store]\nbusy_timeout = 1e300", "store.busy_timeout: must be greater than 0, at most"),
        ("[ldap]\noperation_timeout = 3601", "ldap.operation_timeout: must be greater than 0"),
        ("[alerts]\nsmtp_timeout = 1e20", "alerts.smtp_timeout: must be greater than 0"),
        ("[alerts]\nwebhook_timeout = 86400", "alerts.webhook_timeout: must be greater than 0"),
        ("[keys]\nrsa_min_bits = 100000", "keys.rsa_min_bits: must be 1024 to 16384"),
        ("[repos]\ngid = 9223372036854775807", "repos.gid: must be a positive integer"),
    ],
)
def test_numbers_past_their_upper_bound_are_refused(
    tmp_path: Path, toml: str, problem: str
) -> None:
    path = write(tmp_path, toml + "\n")
    [line] = problem_lines(config_error(path, {}))
    assert line.startswith(f"{path}: {problem}"), line


def test_a_number_past_its_bound_is_reported_once(tmp_path: Path) -> None:
    path = write(tmp_path, "[store]\nbusy_timeout = 0\n[repos]\nssh_port = 0\nuid_min = 5\n")
    assert problem_lines(config_error(path, {})) == [
        f"{path}: store: timeouts must be positive and finite",
        f"{path}: repos.ssh_port: must be between 1 and 65535",
        f"{path}: repos.uid_min/uid_max: need 1000 <= uid_min <= uid_max < 2^31-1",
    ]


def test_bounds_hold_for_the_environment_too(no_default_file: Path) -> None:
    error = config_error(
        None, {"BORGHIVE_STATS_TIME_LIMIT": "1e300", "BORGHIVE_STATS_KEEP_ALL_DAYS": "36501"}
    )
    assert problem_lines(error) == [
        "<built-in defaults>: stats.keep_all_days: must be 1 to 36500 days, got 36501",
        "<built-in defaults>: stats.time_limit: must be greater than 0, at most 86400 seconds,"
        " got 1e+300",
    ]
