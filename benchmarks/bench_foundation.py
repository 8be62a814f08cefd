"""Wall time of the everyday ``borghive repo`` commands on a large store.

Seeds a scratch store (SQLite, or a throwaway PostgreSQL server with ``--postgres``) with
``--repos`` repositories, ``--keys`` SSH keys and one access row per key, then times the
installed ``borghive`` console script in subprocesses, round-robin against a bare
``python -c pass``, and checks its targets:

* ``repo list`` and ``repo show`` each well under a second (judged on p90 < 1 s);
* ``repo create`` under 300 ms beyond interpreter start-up (median minus baseline median).

``repo show`` and ``repo list`` are also timed with stdout on a pseudo-terminal, as an admin
at a shell runs them. Then it splits each command into phases in-process (import,
configuration, store open, service call, rendering) and prints the ten costliest imports
from ``-X importtime``.
It is a benchmark, not a test: it prints figures and ratios, and exits 1 when a target
fails so a script can notice.

    .venv/bin/python -m benchmarks.bench_foundation [--repos 10000] [--keys 20000]
        [--runs 15] [--postgres] [--terminal-list-runs 3] [--phase-runs 5]
        [--no-pyc-cache] [--profile] [--keep]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import pty
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.harness.postgres import postgres_bindir, running_postgres

VENV_BIN = Path(sys.executable).parent
PYTHON = str(VENV_BIN / "python")
BORGHIVE = str(VENV_BIN / "borghive")
HOST = "backup.example.org"
TERMINAL_SIZE = (50, 160)  # rows, columns of the pseudo-terminal for the "on a terminal" rows
UID_BASE = 200000

LIST_TARGET_S = 1.0
SHOW_TARGET_S = 1.0
CREATE_TARGET_S = 0.300


# --- scratch store -----------------------------------------------------------------------


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL server (tests/harness/postgres.py, as the test suite starts one);
    yields a store URL."""
    bindir = postgres_bindir()
    if bindir is None:
        sys.exit("bench: PostgreSQL server binaries not found (apt-get install postgresql)")
    with running_postgres(bindir, "borghive_bench") as server:
        yield server.url


def write_config(scratch: Path, store_url: str) -> Path:
    root = scratch / "repos"
    root.mkdir()
    path = scratch / "borghive.toml"
    path.write_text(
        f'[store]\nurl = "{store_url}"\n\n[repos]\nroot = "{root}"\nhost = "{HOST}"\n',
        encoding="utf-8",
    )
    return path


def ed25519_public_key(index: int) -> tuple[str, str]:
    """A synthetic but well-formed ``ssh-ed25519`` key: (public_key text, base64 blob).

    The blob is the 51-byte SSH wire form: string "ssh-ed25519", string of 32 key bytes.
    """
    point = hashlib.sha256(f"borghive-bench-{index}".encode()).digest()
    kind = b"ssh-ed25519"
    blob = struct.pack(">I", len(kind)) + kind + struct.pack(">I", len(point)) + point
    encoded = base64.b64encode(blob).decode()
    return f"ssh-ed25519 {encoded}", encoded


@dataclass(frozen=True)
class Seeded:
    users: int
    repositories: int
    keys: int
    seconds: float
    middle_repository: str  # OWNER/NAME
    create_owner: str
    create_key: str  # OWNER/NAME of a key the owner may grant


def _bulk_insert(
    db: Any, table: str, columns: Sequence[str], values: list[tuple[Any, ...]]
) -> None:
    """Insert many rows in one go: executemany on SQLite, execute_values on PostgreSQL."""
    from peewee import SqliteDatabase

    names = ", ".join(columns)
    cursor = db.cursor()
    if isinstance(db, SqliteDatabase):
        marks = ", ".join("?" * len(columns))
        cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", values)  # noqa: S608
    else:
        from psycopg2.extras import execute_values

        execute_values(
            cursor,
            f"INSERT INTO {table} ({names}) VALUES %s",  # noqa: S608
            values,
            page_size=2000,
        )


def seed(
    config_path: Path,
    repositories: int,
    keys: int,
    host_of: Callable[[int], str] | None = None,
) -> Seeded:
    """Fill the migrated store: repositories/10 owners, the repositories, the keys, and one
    access row per key (key i opens repository i mod N, which its owner owns). Repository
    r lives on storage host ``host_of(r)`` (default: every one on the config's host)."""
    from peewee import SqliteDatabase

    from borghive.config_load import load_config
    from borghive.rules.sshkeys import fingerprint, parse_public_key
    from borghive.store import open_store

    started = time.perf_counter()
    config = load_config(config_path)
    users = max(1, repositories // 10)
    now = dt.datetime(2025, 6, 1, 12, 0, 0)
    with open_store(config.store) as db:
        sqlite = isinstance(db, SqliteDatabase)

        def stamp(value: dt.datetime | None) -> Any:
            # peewee stores SQLite datetimes as 'YYYY-MM-DD HH:MM:SS[.ffffff]' text
            return str(value) if sqlite and value is not None else value

        def owner_of(repo: int) -> int:
            return repo % users

        user_rows = [
            (u + 1, f"user{u:05d}", f"user{u:05d}@example.org", 12 * 3600, 5 * 86400, stamp(now))
            for u in range(users)
        ]
        repo_rows = []
        for r in range(repositories):
            touched = None if r % 7 == 0 else now - dt.timedelta(minutes=r % 5000)
            repo_rows.append(
                (
                    r + 1,
                    owner_of(r) + 1,
                    f"repo{r:07d}",
                    f"r{r + 1:07d}",
                    UID_BASE + r,
                    "disabled" if r % 50 == 0 else "borg",
                    None if r % 3 else 500 * 10**9,
                    None if r % 4 else 36 * 3600,
                    stamp(touched),
                    stamp(touched),
                    stamp(now - dt.timedelta(days=r % 400)),
                    HOST if host_of is None else host_of(r),
                )
            )
        key_rows = []
        access_rows = []
        for k in range(keys):
            text, blob = ed25519_public_key(k)
            repo = k % repositories
            key_rows.append(
                (
                    k + 1,
                    owner_of(repo) + 1,
                    f"key{k:07d}",
                    "ssh-ed25519",
                    256,
                    fingerprint(blob),
                    text,
                    f"host{k}@example.org",
                    None,
                    stamp(now),
                )
            )
            access_rows.append((k + 1, repo + 1, k + 1, "append-only" if k % 5 == 0 else "full"))
        parse_public_key(key_rows[0][6])  # the synthetic keys must pass borghive's own parser

        with db.atomic():
            _bulk_insert(
                db,
                "person",
                ("id", "name", "email", "realert_interval", "alert_expiration", "created"),
                user_rows,
            )
            _bulk_insert(
                db,
                "repository",
                (
                    "id",
                    "owner_id",
                    "name",
                    "repo_user",
                    "uid_number",
                    "mode",
                    "quota",
                    "alert_after",
                    "last_access",
                    "last_update",
                    "created",
                    "host",
                ),
                repo_rows,
            )
            _bulk_insert(
                db,
                "ssh_key",
                (
                    "id",
                    "owner_id",
                    "name",
                    "key_type",
                    "bits",
                    "fingerprint",
                    "public_key",
                    "comment",
                    "allowed_from",
                    "created",
                ),
                key_rows,
            )
            _bulk_insert(db, "access", ("id", "repository_id", "key_id", "mode"), access_rows)
        if not sqlite:
            # explicit ids leave the SERIAL sequences behind; autovacuum would analyse too
            for table in ("person", "repository", "ssh_key", "access"):
                db.execute_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"(SELECT MAX(id) FROM {table}))"
                )
            db.execute_sql("ANALYZE")
    middle = repositories // 2
    owner = f"user{owner_of(middle):05d}"
    granted = middle % keys  # a key of the creating owner: key k belongs to repo k mod N's owner
    creator = f"user{owner_of(granted % repositories):05d}"
    return Seeded(
        users=users,
        repositories=repositories,
        keys=keys,
        seconds=time.perf_counter() - started,
        middle_repository=f"{owner}/repo{middle:07d}",
        create_owner=creator,
        create_key=f"{creator}/key{granted:07d}",
    )


# --- timing --------------------------------------------------------------------------------


@dataclass
class Command:
    label: str
    argv: Callable[[int], list[str]]  # run number -> argv (repo create needs fresh names)
    terminal: bool = False  # stdout on a pseudo-terminal instead of a pipe
    max_runs: int | None = None  # fewer runs for a slow command (and no warm-up run)
    samples: list[float] = field(default_factory=list)
    output_bytes: int = 0


def clean_environment(scratch: Path, bytecode_cache: bool) -> dict[str, str]:
    """The caller's environment without BORGHIVE_* overrides (the config file decides).

    With ``bytecode_cache``, compiled modules are cached under the scratch directory, as an
    installed package has them; a PYTHONDONTWRITEBYTECODE=1 environment (this project's
    sandbox has one) otherwise recompiles borghive's own modules on every start.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("BORGHIVE_")}
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    if bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(scratch / "pycache")
    return env


def _failed(argv: list[str], code: int, stderr: bytes) -> None:
    sys.exit(f"bench: {' '.join(argv)} exited {code}\n" + stderr.decode(errors="replace"))


def run_piped(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds of one subprocess with stdout and stderr captured through pipes."""
    started = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, env=env, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        _failed(argv, result.returncode, result.stderr)
    return elapsed, len(result.stdout)


def run_on_terminal(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds of one subprocess whose stdout is a pseudo-terminal, read to the end,
    as when an admin types the command (rich renders its tables then)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", *TERMINAL_SIZE, 0, 0))
    size = 0
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=errors,
            env={**env, "TERM": env.get("TERM", "xterm-256color")},
        )
        os.close(slave)
        try:
            while True:
                try:
                    chunk = os.read(master, 1 << 16)
                except OSError:  # EIO once the child has closed the terminal
                    break
                if not chunk:
                    break
                size += len(chunk)
            code = process.wait()
            elapsed = time.perf_counter() - started
        finally:
            os.close(master)
        if code != 0:
            errors.seek(0)
            _failed(argv, code, errors.read())
    return elapsed, size


def measure(commands: list[Command], runs: int, env: dict[str, str]) -> None:
    """One untimed warm-up round, then ``runs`` rounds; each round runs every command once,
    starting from a different command each time so drift and noise hit all of them."""
    for command in commands:
        if command.max_runs is None:
            (run_on_terminal if command.terminal else run_piped)(command.argv(-1), env)
    for run in range(runs):
        shift = run % len(commands)
        for command in commands[shift:] + commands[:shift]:
            if command.max_runs is not None and len(command.samples) >= command.max_runs:
                continue
            runner = run_on_terminal if command.terminal else run_piped
            elapsed, size = runner(command.argv(run), env)
            command.samples.append(elapsed)
            command.output_bytes = size


def p90(samples: list[float]) -> float:
    if len(samples) < 2:
        return samples[0]
    return statistics.quantiles(samples, n=10, method="inclusive")[8]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f}"


def print_timings(commands: list[Command], runs: int) -> float:
    """The table; returns the baseline median."""
    baseline = statistics.median(commands[0].samples)
    print(
        f"\nwall time, {runs} interleaved runs each (ms); stdout captured through a pipe, "
        f"or on a {TERMINAL_SIZE[1]}x{TERMINAL_SIZE[0]} pseudo-terminal where marked"
    )
    header = (
        f"{'command':<48} {'runs':>4} {'median':>8} {'p90':>8} {'min':>8} {'beyond start':>13} "
        f"{'x base':>7} {'stdout':>9}"
    )
    print(header)
    print("-" * len(header))
    for command in commands:
        median = statistics.median(command.samples)
        print(
            f"{command.label:<48} {len(command.samples):>4} {ms(median)} "
            f"{ms(p90(command.samples))} {ms(min(command.samples))} "
            f"{ms(median - baseline):>13} {median / baseline:7.2f} {command.output_bytes:>9}"
        )
    return baseline


def print_targets(commands: dict[str, Command], baseline: float) -> bool:
    """PASS/FAIL per target; returns whether all passed."""
    print(
        "\ntargets: repo list and repo show each well under a second (p90 < 1 s); "
        "repo create under 300 ms beyond interpreter start-up (median - baseline median)"
    )
    checks = [
        ("repo list", "p90 < 1000 ms", "list", LIST_TARGET_S),
        ("repo list --json", "p90 < 1000 ms", "json", LIST_TARGET_S),
        ("repo show", "p90 < 1000 ms", "show", SHOW_TARGET_S),
        ("repo create", "median beyond start-up < 300 ms", "create", CREATE_TARGET_S),
        ("repo list (on a terminal)", "p90 < 1000 ms", "list-tty", LIST_TARGET_S),
        ("repo show (on a terminal)", "p90 < 1000 ms", "show-tty", SHOW_TARGET_S),
    ]
    passed = True
    for name, criterion, key, limit in checks:
        if key not in commands:
            continue
        samples = commands[key].samples
        value = statistics.median(samples) - baseline if key == "create" else p90(samples)
        ok = value < limit
        passed &= ok
        margin = abs(limit - value) / limit * 100
        print(
            f"  {'PASS' if ok else 'FAIL'}  {name:<26} {criterion:<32} {value * 1000:8.1f} ms  "
            + (f"({margin:.0f}% headroom)" if ok else f"({margin:.0f}% over)")
        )
    return passed


# --- in-process phases ---------------------------------------------------------------------

# Runs in a fresh interpreter: times the import, then runs the real command through the
# Typer app with the service call, store open, config load and render functions wrapped.
PHASES_PROGRAM = r"""
import contextlib, json, os, sys, time
started = time.perf_counter()
import borghive.cli.app as app_module
imported = time.perf_counter()
import borghive.cli.repo as repo_cli
import borghive.store
from borghive.service.repositories import view as repo_view
from borghive.service.repositories import lifecycle as repos

marks = {"config": 0.0, "open": 0.0, "service": 0.0, "render": 0.0, "close": 0.0}
depth = {name: 0 for name in marks}

def timed(name, function):
    def wrapper(*args, **kwargs):
        depth[name] += 1
        begin = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            depth[name] -= 1
            if depth[name] == 0:  # a nested call (_render_detail -> fields) counts once
                marks[name] += time.perf_counter() - begin
    return wrapper

def wrap(module, names, phase):
    for name in names:  # tolerate helpers that a later borghive renames or drops
        if hasattr(module, name):
            setattr(module, name, timed(phase, getattr(module, name)))

wrap(app_module, ("load_config",), "config")
wrap(repo_view, ("list_repositories", "show_repository"), "service")
wrap(repos, ("create_repository",), "service")
wrap(repo_cli, ("table", "fields", "say", "emit_json", "_render_detail"), "render")
original_open = borghive.store.open_store

@contextlib.contextmanager
def open_store(*args, **kwargs):
    begin = time.perf_counter()
    with original_open(*args, **kwargs) as db:
        marks["open"] += time.perf_counter() - begin
        yield db
        closing = time.perf_counter()
    marks["close"] += time.perf_counter() - closing

borghive.store.open_store = open_store
sink = open(os.devnull, "w")
real_stdout, sys.stdout = sys.stdout, sink
begin = time.perf_counter()
try:
    app_module.app(sys.argv[1:], standalone_mode=False)
finally:
    sys.stdout = real_stdout
command = time.perf_counter() - begin
marks["other"] = command - sum(marks.values())
marks["import"] = imported - started
print(json.dumps(marks))
"""


def measure_phases(
    commands: list[tuple[str, Callable[[int], list[str]]]], repeats: int, env: dict[str, str]
) -> None:
    """Median seconds per phase for each command, run in-process in a fresh interpreter."""
    print(f"\nin-process phases (ms, median of {repeats} fresh interpreters; output to /dev/null)")
    phases = ("import", "config", "open", "service", "render", "other", "close")
    header = f"{'command':<44}" + "".join(f"{p:>9}" for p in phases)
    print(header)
    print("-" * len(header))
    for label, argv in commands:
        samples: dict[str, list[float]] = {p: [] for p in phases}
        for repeat in range(repeats):
            args = argv(repeat)[1:]  # drop the console script itself
            result = subprocess.run(
                [PYTHON, "-c", PHASES_PROGRAM, *args],
                capture_output=True,
                env=env,
                check=False,
                text=True,
            )
            if result.returncode != 0:
                sys.exit(f"bench: phases of {label} failed:\n{result.stderr}")
            marks = json.loads(result.stdout.strip().splitlines()[-1])
            for phase in phases:
                samples[phase].append(marks[phase])
        print(
            f"{label:<44}" + "".join(f"{statistics.median(samples[p]) * 1000:9.1f}" for p in phases)
        )
    print(
        "  import = import borghive.cli.app; config = load_config; open = connect + schema "
        "check;\n  service = queries + building result dataclasses; render = table/fields/"
        "say/emit_json;\n  other = Typer parsing/dispatch and the command's own row "
        "formatting; close = closing the store"
    )


def print_import_hint(env: dict[str, str], attempts: int = 3) -> None:
    """Top ten cumulative import costs of ``import borghive.cli.app`` (fastest of a few)."""
    best: list[tuple[int, int, str]] | None = None
    for _ in range(attempts):
        result = subprocess.run(
            [PYTHON, "-X", "importtime", "-c", "import borghive.cli.app"],
            capture_output=True,
            env=env,
            check=True,
            text=True,
        )
        entries = []
        for line in result.stderr.splitlines():
            if not line.startswith("import time:") or "cumulative" in line:
                continue
            self_us, cumulative_us, name = line[len("import time:") :].split("|")
            entries.append((int(cumulative_us), int(self_us), name.rstrip()))
        total = max(entries)[0]
        if best is None or total < max(best)[0]:
            best = entries
    assert best is not None
    print("\nimport hint: python -X importtime -c 'import borghive.cli.app' (top 10 cumulative)")
    print(f"{'cumulative ms':>14} {'self ms':>8}  module")
    for cumulative, own, name in sorted(best, reverse=True)[:10]:
        print(f"{cumulative / 1000:14.1f} {own / 1000:8.1f}  {name}")


def print_profile(config_path: Path, env: dict[str, str]) -> None:
    """cProfile of an in-process ``repo list`` (after the imports), top 20 by cumulative."""
    program = (
        "import cProfile, os, pstats, sys\n"
        "import borghive.cli.app as a\n"
        "profile = cProfile.Profile()\n"
        "sys.stdout = open(os.devnull, 'w')\n"
        "profile.enable()\n"
        "a.app(sys.argv[1:], standalone_mode=False)\n"
        "profile.disable()\n"
        "sys.stdout = sys.__stdout__\n"
        "pstats.Stats(profile).sort_stats('cumulative').print_stats(20)\n"
    )
    result = subprocess.run(
        [PYTHON, "-c", program, "--config", str(config_path), "repo", "list"],
        capture_output=True,
        env=env,
        check=True,
        text=True,
    )
    print("\ncProfile of in-process 'repo list' (after imports), top 20 cumulative:")
    print(result.stdout.strip())


# --- main ---------------------------------------------------------------------------------


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repos", type=int, default=10000, help="repositories to seed")
    parser.add_argument("--keys", type=int, default=20000, help="SSH keys (and access rows)")
    parser.add_argument("--runs", type=int, default=15, help="timed runs per command")
    parser.add_argument(
        "--postgres", action="store_true", help="use a throwaway PostgreSQL server, not SQLite"
    )
    parser.add_argument(
        "--phase-runs", type=int, default=5, help="fresh interpreters per in-process breakdown"
    )
    parser.add_argument(
        "--terminal-list-runs",
        type=int,
        default=3,
        help="runs of 'repo list' on a pseudo-terminal (slow: rich renders every row; 0 skips)",
    )
    parser.add_argument(
        "--no-pyc-cache",
        action="store_true",
        help="keep the caller's PYTHONDONTWRITEBYTECODE instead of caching bytecode in scratch",
    )
    parser.add_argument("--profile", action="store_true", help="also cProfile 'repo list'")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    arguments = parser.parse_args()
    if arguments.repos < 1 or arguments.keys < 1 or arguments.runs < 1:
        parser.error("--repos, --keys and --runs must be positive")
    if arguments.repos > 90000:
        parser.error("--repos: at most 90000 (uidNumbers 200000.. must leave room for creates)")
    return arguments


def benchmark(arguments: argparse.Namespace, scratch: Path, store_url: str, backend: str) -> bool:
    env = clean_environment(scratch, bytecode_cache=not arguments.no_pyc_cache)
    config_path = write_config(scratch, store_url)
    subprocess.run(
        [BORGHIVE, "--config", str(config_path), "migrate"],
        check=True,
        capture_output=True,
        env=env,
    )
    seeded = seed(config_path, arguments.repos, arguments.keys)
    print(
        f"store: {backend}; seeded {seeded.users} users, {seeded.repositories} repositories, "
        f"{seeded.keys} keys and {seeded.keys} access rows in {seeded.seconds:.1f} s"
    )
    load = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f} before timing; python {sys.version.split()[0]}; bytecode "
        + ("not cached (PYTHONDONTWRITEBYTECODE as given)" if arguments.no_pyc_cache else "cached")
    )

    base = [BORGHIVE, "--config", str(config_path), "repo"]
    middle = seeded.middle_repository
    create_key = seeded.create_key

    def create_argv(run: int) -> list[str]:
        name = f"{seeded.create_owner}/new{run + 1}" if run >= 0 else f"{seeded.create_owner}/warm"
        return [*base, "create", name, "--key", create_key]

    commands = {
        "baseline": Command("python -c pass (baseline)", lambda _run: [PYTHON, "-c", "pass"]),
        "list": Command("borghive repo list", lambda _run: [*base, "list"]),
        "json": Command("borghive repo list --json", lambda _run: [*base, "list", "--json"]),
        "show": Command(f"borghive repo show {middle}", lambda _run: [*base, "show", middle]),
        "create": Command(f"borghive repo create {seeded.create_owner}/newN --key …", create_argv),
        "show-tty": Command(
            "borghive repo show … (on a terminal)", lambda _run: [*base, "show", middle], True
        ),
    }
    if arguments.terminal_list_runs > 0:
        commands["list-tty"] = Command(
            "borghive repo list (on a terminal)",
            lambda _run: [*base, "list"],
            terminal=True,
            max_runs=arguments.terminal_list_runs,
        )
    measure(list(commands.values()), arguments.runs, env)
    load = os.getloadavg()
    print(f"load average after timing: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    baseline = print_timings(list(commands.values()), arguments.runs)
    passed = print_targets(commands, baseline)

    measure_phases(
        [
            ("repo list", lambda _r: [*base, "list"]),
            ("repo list --json", lambda _r: [*base, "list", "--json"]),
            ("repo show", lambda _r: [*base, "show", middle]),
            (
                "repo create",
                lambda r: [*base, "create", f"{seeded.create_owner}/phase{r}", "--key", create_key],
            ),
        ],
        arguments.phase_runs,
        env,
    )
    print_import_hint(env)
    if arguments.profile:
        print_profile(config_path, env)
    return passed


def main() -> int:
    arguments = parse_arguments()
    scratch = Path(tempfile.mkdtemp(prefix="borghive-bench-"))
    try:
        if arguments.postgres:
            with postgres_server() as url:
                passed = benchmark(arguments, scratch, url, "PostgreSQL (throwaway, fsync off)")
        else:
            url = f"sqlite:///{scratch}/borghive.db"
            passed = benchmark(arguments, scratch, url, "SQLite (rollback journal)")
    finally:
        if arguments.keep:
            print(f"\nscratch directory kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
