"""Wall time of ``borghive authkeys``, sshd's AuthorizedKeysCommand, on a large store.

sshd runs ``borghive authkeys USER [TYPE KEY]`` for every key of every login, so the
issue's target is relative to the interpreter's own start: with ``--repos`` repositories
and ``--keys`` keys, the median wall time of ``authkeys USER`` and of ``authkeys USER TYPE
KEY`` is at most 2x that of ``python -c pass`` measured in the same run on SQLite (3x on
PostgreSQL), and does not grow from ``--small-repos`` to ``--repos`` repositories.

What it does:

1. upgrades pip in a scratch virtualenv (``pip install -U pip``, as the README's install
   does) and installs a non-editable copy of this checkout into it (``pip install
   --no-deps``, plus psycopg2-binary with ``--postgres``: the snapshot is built with it;
   authkeys reads the login snapshot with SQLite), so that neither the baseline nor
   authkeys pays the editable-install finder that ``.venv``'s site loads; the baseline is that same
   virtualenv's ``python -c pass``;
2. makes two stores (``--small-repos`` and ``--repos`` repositories, keys in the same
   ratio, one owner per 10 repositories, one access row per key) with the bulk insert of
   ``bench_foundation.py``, after ``borghive migrate``; then ``borghive config check``
   refreshes the login copy beside each config file, and a second config file with the same
   content has none (the "no login copy" figure);
3. times the baseline and every authkeys call round-robin in one loop, each with sshd's
   environment only (PATH, USER, LOGNAME, HOME, LANG) and stdin from /dev/null, checking
   that every authkeys run exits 0 and prints exactly the expected lines;
4. prints min/median/p90, the ratio to the baseline, PASS/FAIL per target, the growth
   from the small to the large store, an in-process split of one call into its phases,
   ``python -X importtime``'s costliest imports and the query plans.

It is a benchmark, not a test: it prints figures, and exits 1 when a target fails.

    .venv/bin/python -m benchmarks.bench_authkeys [--repos 100000] [--keys 200000]
        [--small-repos 100] [--runs 41] [--phase-runs 11] [--postgres] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from benchmarks.bench_foundation import (
    BORGHIVE,
    clean_environment,
    ed25519_public_key,
    ms,
    p90,
    postgres_server,
    seed,
    write_config,
)

CHECKOUT = Path(__file__).resolve().parent.parent
KEY_TYPE = "ssh-ed25519"
SQLITE_LIMIT = 2.0  # median authkeys / median python -c pass
POSTGRES_LIMIT = 3.0
GROWTH_LIMIT = 1.10  # "does not grow": large-store median within 10% of the small one's
SSHD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


# --- the measured installation -------------------------------------------------------------


# The console script pip >= 25 and uv write (pip's own template, as in .venv/bin/borghive).
PLAIN_WRAPPER = """#!{python}
import sys
from borghive.entry import main
if __name__ == '__main__':
    sys.argv[0] = sys.argv[0].removesuffix('.exe')
    sys.exit(main())
"""
# The one pip < 25 writes (distlib's template; that pip is what python3 -m venv brings on
# Python 3.11 and Debian 12, hence the README's "pip install -U pip"): it imports re.
DISTLIB_WRAPPER = """#!{python}
# -*- coding: utf-8 -*-
import re
import sys
from borghive.entry import main
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit(main())
"""


@dataclass(frozen=True)
class Venv:
    python: str
    borghive: str  # the console script pip wrote
    other_borghive: str  # the same call through the other template
    other_label: str  # which one that is: "plain wrapper" or "pip < 25 wrapper"


def make_venv(scratch: Path, postgres: bool) -> Venv:
    """A fresh virtualenv with a regular (non-editable) install of this checkout."""
    directory = scratch / "venv"
    base_python = str(Path(sys.base_prefix) / "bin" / "python3")
    subprocess.run([base_python, "-m", "venv", str(directory)], check=True, capture_output=True)
    python = str(directory / "bin" / "python")
    upgrade = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
        capture_output=True,
        text=True,
        check=False,
    )
    if upgrade.returncode != 0:
        print(f"bench: pip install -U pip failed, measuring with venv's own pip:\n{upgrade.stderr}")
    packages = [str(CHECKOUT), *(["psycopg2-binary"] if postgres else [])]
    result = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--no-deps", "--compile", *packages],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"bench: pip install into {directory} failed:\n{result.stderr}")
    located = subprocess.run(
        [python, "-c", "import borghive, pip, sys; print(borghive.__file__, pip.__version__)"],
        capture_output=True,
        text=True,
        check=True,
        env=sshd_environment(),
        cwd="/",  # with -c, sys.path[0] is the working directory: not the checkout
    ).stdout.split()
    site = next(directory.glob("lib/python*/site-packages"))
    editable = sorted(p.name for p in site.iterdir() if "editable" in p.name)
    compiled = any((site / "borghive" / "login" / "__pycache__").glob("authkeys.*.pyc"))
    if not located[0].startswith(str(site)) or editable or not compiled:
        sys.exit(f"bench: borghive in {directory} is not a compiled regular install")
    script = directory / "bin" / "borghive"
    imports_re = "import re" in script.read_text(encoding="utf-8")
    other = directory / "bin" / "borghive-other"
    template = PLAIN_WRAPPER if imports_re else DISTLIB_WRAPPER
    other.write_text(template.format(python=python), encoding="utf-8")
    other.chmod(0o755)
    print(
        f"measured install: `pip install -U pip`, then non-editable `pip install --no-deps"
        f" {CHECKOUT}`"
        + (" + psycopg2-binary" if postgres else "")
        + f" into a scratch virtualenv (`{base_python} -m venv`, Python "
        f"{sys.version.split()[0]}, pip {located[1]}, bytecode compiled at install); borghive"
        " is imported from its site-packages, no editable finder on the path; the baseline is"
        " that virtualenv's own `python -c pass`"
    )
    print(
        f"console script {script} as pip {located[1]} wrote it: "
        + (
            "imports re (distlib's template, pip < 25); the 'plain wrapper' rows run the same"
            " call through pip >= 25's template instead"
            if imports_re
            else "does not import re (pip >= 25's template); the 'pip < 25 wrapper' rows run"
            " the same call through distlib's template, which does: what skipping"
            " `pip install -U pip` costs"
        )
    )
    label = "plain wrapper" if imports_re else "pip < 25 wrapper"
    return Venv(python, str(script), str(other), label)


def sshd_environment() -> dict[str, str]:
    """What sshd gives an AuthorizedKeysCommand: PATH, USER, LOGNAME, HOME, LANG."""
    account = pwd.getpwuid(os.geteuid())
    return {
        "PATH": SSHD_PATH,
        "USER": account.pw_name,
        "LOGNAME": account.pw_name,
        "HOME": account.pw_dir,
        "LANG": "C.UTF-8",
    }


# --- stores ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    repositories: int
    keys: int
    seed_seconds: float
    store_url: str
    config: Path  # with a current login copy
    no_copy: Path  # the same content, no login copy beside it
    user: str
    blob: str  # of the key looked up by "authkeys USER TYPE KEY"
    expected_user: bytes
    expected_key: bytes


def expected_line(config_path: Path, user: str, repo: int, key: int) -> str:
    """The authorized_keys line for key ``key`` on repository index ``repo``, from the
    formulas of ``bench_foundation.seed`` (mode, quota, access mode) and the config."""
    from borghive.config_load import load_config

    config = load_config(config_path)
    path = f"{config.repos.root}/{user}/repo{repo:07d}"
    command = (
        f"{config.borg.path} serve --umask {config.borg.umask} --restrict-to-repository {path}"
    )
    if key % 5 == 0:
        command += " --append-only"
    if repo % 3 == 0:
        command += f" --storage-quota {500 * 10**9}"
    _, blob = ed25519_public_key(key)
    return f'restrict,command="{command}" {KEY_TYPE} {blob} key{key:07d}\n'


def check_fingerprint(blob: str) -> None:
    """The seeded fingerprint is the real one: compare with ssh-keygen where it exists."""
    from borghive.rules.sshkeys import fingerprint

    if shutil.which("ssh-keygen") is None:
        return
    result = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", "-"],
        input=f"{KEY_TYPE} {blob}\n",
        capture_output=True,
        text=True,
        check=True,
    )
    if result.stdout.split()[1] != fingerprint(blob):
        sys.exit(f"bench: seeded fingerprint differs from ssh-keygen's: {result.stdout}")


def prepare(directory: Path, store_url: str, repositories: int, keys: int) -> Scenario:
    """Migrate, seed, refresh the login copy; pick a user in the middle of the table."""
    directory.mkdir()
    env = clean_environment(directory, bytecode_cache=True)
    config = write_config(directory, store_url)
    for action in (["migrate"], ["config", "check"]):
        subprocess.run(
            [BORGHIVE, "--config", str(config), *action], check=True, capture_output=True, env=env
        )
    seeded = seed(config, repositories, keys)
    # after seeding: migrate (a no-op) builds the login snapshot on PostgreSQL, and config
    # check leaves the login copy current
    for action in (["migrate"], ["config", "check"]):
        subprocess.run(
            [BORGHIVE, "--config", str(config), *action], check=True, capture_output=True, env=env
        )
    if not Path(f"{config}.login-cache").is_file():
        sys.exit(f"bench: borghive config check left no login copy beside {config}")
    no_copy = directory / "no-copy.toml"
    no_copy.write_text(config.read_text(encoding="utf-8"), encoding="utf-8")
    Path(f"{no_copy}.login-cache").unlink(missing_ok=True)

    repo = repositories // 2
    while repo % 50 == 0:  # seed() disables every 50th repository: no line to check
        repo += 1
    user = f"r{repo + 1:07d}"
    own_keys = list(range(repo, keys, repositories))  # key k opens repository k mod N
    if not own_keys:
        sys.exit("bench: --keys must be at least --repos")
    looked_up = own_keys[-1]
    _, blob = ed25519_public_key(looked_up)
    check_fingerprint(blob)
    return Scenario(
        repositories=repositories,
        keys=keys,
        seed_seconds=seeded.seconds,
        store_url=store_url,
        config=config,
        no_copy=no_copy,
        user=user,
        blob=blob,
        expected_user="".join(expected_line(config, user, repo, k) for k in own_keys).encode(),
        expected_key=expected_line(config, user, repo, looked_up).encode(),
    )


@contextmanager
def stores(scratch: Path, postgres: bool) -> Iterator[tuple[str, str, str]]:
    """(back end, small store URL, large store URL)."""
    if not postgres:
        yield (
            "SQLite",
            f"sqlite:///{scratch}/small/borghive.db",
            f"sqlite:///{scratch}/large/borghive.db",
        )
        return
    with postgres_server() as url:
        import psycopg2

        port = urlsplit(url).port
        connection = psycopg2.connect(host="127.0.0.1", port=port, user="postgres")
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("CREATE DATABASE borghive_small")
        connection.close()
        yield (
            "PostgreSQL 127.0.0.1 TCP, trust auth, fsync off",
            url.rsplit("/", 1)[0] + "/borghive_small",
            url,
        )


# --- timing ---------------------------------------------------------------------------------


@dataclass
class Probe:
    label: str
    argv: list[str]
    expected: bytes  # the exact stdout
    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def run_once(probe: Probe, env: dict[str, str]) -> float:
    """Wall seconds of one run, as sshd starts it; exits when it fails or prints wrongly."""
    started = time.perf_counter()
    result = subprocess.run(
        probe.argv, stdin=subprocess.DEVNULL, capture_output=True, env=env, check=False, cwd="/"
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0 or result.stdout != probe.expected:
        sys.exit(
            f"bench: {' '.join(probe.argv)} exited {result.returncode}\n"
            f"expected stdout {probe.expected!r}\ngot {result.stdout!r}\n"
            + result.stderr.decode(errors="replace")
        )
    return elapsed


def measure(probes: list[Probe], runs: int, env: dict[str, str]) -> None:
    """One untimed warm-up each, then ``runs`` rounds, each starting one probe later."""
    for probe in probes:
        run_once(probe, env)
    for run in range(runs):
        shift = run % len(probes)
        for probe in probes[shift:] + probes[:shift]:
            probe.samples.append(run_once(probe, env))


def probes_for(venv: Venv, small: Scenario, large: Scenario) -> dict[str, Probe]:
    def call(scenario: Scenario, config: Path, by_key: bool) -> list[str]:
        tail = [KEY_TYPE, scenario.blob] if by_key else []
        return [venv.borghive, "--config", str(config), "authkeys", scenario.user, *tail]

    probes = {"baseline": Probe("python -c pass (baseline)", [venv.python, "-c", "pass"], b"")}
    for size, scenario in (("small", small), ("large", large)):
        label = f"{scenario.repositories:,} repos"
        probes[f"{size} user"] = Probe(
            f"authkeys USER            {label}",
            call(scenario, scenario.config, False),
            scenario.expected_user,
        )
        probes[f"{size} key"] = Probe(
            f"authkeys USER TYPE KEY   {label}",
            call(scenario, scenario.config, True),
            scenario.expected_key,
        )
    label = f"{large.repositories:,} repos, {venv.other_label}"
    other = [venv.other_borghive, *call(large, large.config, False)[1:]]
    probes["large user wrapper"] = Probe(
        f"authkeys USER            {label}", other, large.expected_user
    )
    other = [venv.other_borghive, *call(large, large.config, True)[1:]]
    probes["large key wrapper"] = Probe(
        f"authkeys USER TYPE KEY   {label}", other, large.expected_key
    )
    label = f"{large.repositories:,} repos, no login copy"
    probes["large user no copy"] = Probe(
        f"authkeys USER            {label}",
        call(large, large.no_copy, False),
        large.expected_user,
    )
    probes["large key no copy"] = Probe(
        f"authkeys USER TYPE KEY   {label}", call(large, large.no_copy, True), large.expected_key
    )
    return probes


def print_table(probes: dict[str, Probe], runs: int) -> None:
    baseline = probes["baseline"].median
    print(f"\nwall time, {runs} interleaved runs each after one warm-up (ms)")
    header = f"{'command':<56} {'min':>8} {'median':>8} {'p90':>8} {'x base':>7} {'beyond':>8}"
    print(header)
    print("-" * len(header))
    for probe in probes.values():
        print(
            f"{probe.label:<56} {ms(min(probe.samples))} {ms(probe.median)} "
            f"{ms(p90(probe.samples))} {probe.median / baseline:7.2f} "
            f"{ms(probe.median - baseline)}"
        )
    print("  x base = median / baseline median; beyond = median - baseline median")


def print_targets(probes: dict[str, Probe], limit: float, small: int, large: int) -> bool:
    baseline = probes["baseline"].median
    print(
        f"\ntargets: median <= {limit:g}x the baseline's median at {small:,} and {large:,} "
        f"repositories (with the login copy); growth {large:,}/{small:,} <= {GROWTH_LIMIT:.2f}"
    )
    passed = True
    for size, count in (("small", small), ("large", large)):
        for kind, name in (("user", "authkeys USER"), ("key", "authkeys USER TYPE KEY")):
            ratio = probes[f"{size} {kind}"].median / baseline
            ok = ratio <= limit
            passed &= ok
            print(
                f"  {'PASS' if ok else 'FAIL'}  {name:<24} {count:>7,} repos  "
                f"{ratio:5.2f}x <= {limit:g}x"
            )
    for kind, name in (("user", "authkeys USER"), ("key", "authkeys USER TYPE KEY")):
        before, after = probes[f"small {kind}"], probes[f"large {kind}"]
        growth = after.median / before.median
        ok = growth <= GROWTH_LIMIT
        passed &= ok
        print(
            f"  {'PASS' if ok else 'FAIL'}  {name:<24} growth    {growth:5.2f} "
            f"(median {after.median * 1000:.1f} vs {before.median * 1000:.1f} ms, "
            f"min {min(after.samples) * 1000:.1f} vs {min(before.samples) * 1000:.1f} ms)"
        )
    return passed


# --- where the time goes --------------------------------------------------------------------

# Runs in a fresh interpreter of the scratch virtualenv with sshd's environment: the same
# calls as authkeys.main, timed one by one.
PHASES_PROGRAM = r"""
import time
started = time.perf_counter()
import sys
import borghive.login.authkeys as a
import borghive.login.lines as l
import borghive.login.query as q
imported = time.perf_counter()
config, user, key_type, key = a.parse_arguments(sys.argv[1:])
settings = a.load_settings(config)
loaded = time.perf_counter()
driver = time.perf_counter()
connecting = [0.0]
connect = q._connect
def timed_connect(values):
    begin = time.perf_counter()
    try:
        return connect(values)
    finally:
        connecting[0] += time.perf_counter() - begin
q._connect = timed_connect
grants = q.grants_for(settings, user, key_type, key)
queried = time.perf_counter()
answer = "".join(line for line in (l.authorized_line(settings, user, g) for g in grants) if line)
built = time.perf_counter()
import json  # only now: json imports re, which the wrapper may or may not have loaded
print(json.dumps({
    "import": imported - started, "settings": loaded - imported, "driver": driver - loaded,
    "connect": connecting[0], "query": queried - driver - connecting[0], "lines": built - queried,
    "total": built - started, "bytes": len(answer),
}))
"""
PHASES = ("import", "settings", "driver", "connect", "query", "lines", "total")


def print_phases(
    venv: Venv, probes: dict[str, Probe], names: list[str], repeats: int, env: dict[str, str]
) -> None:
    print(
        f"\nin-process phases (ms, median of {repeats} fresh interpreters, after interpreter "
        "start-up)"
    )
    header = f"{'command':<56}" + "".join(f"{p:>9}" for p in PHASES)
    print(header)
    print("-" * len(header))
    for name in names:
        probe = probes[name]
        samples: dict[str, list[float]] = {p: [] for p in PHASES}
        for _ in range(repeats):
            result = subprocess.run(
                [venv.python, "-c", PHASES_PROGRAM, *probe.argv[1:]],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                env=env,
                check=False,
                cwd="/",  # with -c, sys.path[0] is the working directory: not the checkout
            )
            if result.returncode != 0:
                sys.exit(f"bench: phases of {probe.label} failed:\n{result.stderr}")
            marks = json.loads(result.stdout)
            if marks["bytes"] != len(probe.expected):
                sys.exit(f"bench: phases of {probe.label} built {marks['bytes']} bytes")
            for phase in PHASES:
                samples[phase].append(marks[phase])
        print(
            f"{probe.label:<56}"
            + "".join(f"{statistics.median(samples[p]) * 1000:9.2f}" for p in PHASES)
        )
    print(
        "  import = import borghive.login.authkeys; settings = login copy or full config load;\n"
        "  driver = nothing since authkeys reads SQLite only; connect = open the store (on"
        "\n  PostgreSQL, the login snapshot); query = fingerprint of KEY, the one statement (schema"
        " version and grants), fetch; lines = rebuild and validate the lines"
    )


def importtime(argv: list[str], env: dict[str, str], attempts: int) -> list[tuple[int, int, str]]:
    """(cumulative us, self us, indented name) per import of the fastest of a few runs."""
    best: list[tuple[int, int, str]] | None = None
    for _ in range(attempts):
        result = subprocess.run(
            [argv[0], "-X", "importtime", *argv[1:]],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=env,
            check=True,
            cwd="/",
        )
        entries = []
        for line in result.stderr.splitlines():
            if not line.startswith("import time:") or "cumulative" in line:
                continue
            own, cumulative, name = line[len("import time:") :].split("|")
            entries.append((int(cumulative), int(own), name[1:]))
        total = sum(c for c, _, n in entries if not n.startswith(" "))
        if best is None or total < sum(c for c, _, n in best if not n.startswith(" ")):
            best = entries
    assert best is not None
    return best


def print_importtime(venv: Venv, probes: dict[str, Probe], env: dict[str, str]) -> None:
    baseline = importtime([venv.python, "-c", "pass"], env, 5)
    known = {name.strip() for _, _, name in baseline}
    base_total = sum(c for c, _, n in baseline if not n.startswith(" "))
    shown = (
        ("large key", 14),
        ("large user", 0),
        ("large key wrapper", 0),
        ("large key no copy", 8),
    )
    for name, top in shown:
        probe = probes[name]
        script = [venv.python, *probe.argv]  # the console script, run by the same python
        entries = importtime(script, env, 5)
        top_level = [(c, n) for c, _, n in entries if not n.startswith(" ")]
        total = sum(c for c, _ in top_level)
        extra = sum(c for c, n in top_level if n not in known)
        print(
            f"\npython -X importtime: {' '.join(probe.label.split())}, fastest of 5: imports "
            f"{total / 1000:.1f} ms, of which {extra / 1000:.1f} ms not imported by "
            f"`python -c pass` (whose own are {base_total / 1000:.1f} ms)"
        )
        if not top:
            continue
        print(f"{'cumulative ms':>14} {'self ms':>8}  module (* = python -c pass imports it too)")
        for cumulative, own, module in sorted(entries, reverse=True)[:top]:
            mark = "*" if module.strip() in known else " "
            print(f"{cumulative / 1000:14.2f} {own / 1000:8.2f} {mark} {module}")


def print_plans(scenario: Scenario) -> None:
    """The authkeys query's plan on the large store (the exact SQL of borghive.login.query)."""
    from borghive.login.query import _BY_KEY, _QUERY

    path = scenario.store_url.removeprefix("sqlite:///")
    user, fingerprint = scenario.user, _fingerprint(scenario.blob)
    if scenario.store_url.startswith("sqlite:"):
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            for label, by_key, parameters in (
                ("authkeys USER", "", (user,)),
                ("authkeys USER TYPE KEY", _BY_KEY.format(fingerprint="?"), (user, fingerprint)),
            ):
                sql = _QUERY.format(user="?", by_key=by_key)
                rows = connection.execute(f"EXPLAIN QUERY PLAN {sql}", parameters).fetchall()
                started = time.perf_counter()
                for _ in range(200):
                    connection.execute(sql, parameters).fetchall()
                each = (time.perf_counter() - started) / 200
                print(f"\nEXPLAIN QUERY PLAN, {label} ({each * 1e6:.0f} us per query, warm):")
                for row in rows:
                    print(f"  {row[-1]}")
        finally:
            connection.close()
        return
    import psycopg2

    parts = urlsplit(scenario.store_url)
    connection = psycopg2.connect(
        host=parts.hostname, port=parts.port, user=parts.username, dbname=parts.path[1:]
    )
    try:
        with connection.cursor() as cursor:
            for label, by_key, parameters in (
                ("authkeys USER", "", (user,)),
                ("authkeys USER TYPE KEY", _BY_KEY.format(fingerprint="%s"), (user, fingerprint)),
            ):
                sql = _QUERY.format(user="%s", by_key=by_key)
                cursor.execute(f"EXPLAIN (ANALYZE, COSTS OFF) {sql}", parameters)
                print(f"\nEXPLAIN ANALYZE, {label}:")
                for (line,) in cursor.fetchall():
                    print(f"  {line}")
    finally:
        connection.close()


def _fingerprint(blob: str) -> str:
    from borghive.rules.sshkeys import fingerprint

    return fingerprint(blob)


# --- main ---------------------------------------------------------------------------------


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repos", type=int, default=100000, help="repositories, large store")
    parser.add_argument("--keys", type=int, default=200000, help="keys (access rows), large")
    parser.add_argument(
        "--small-repos", type=int, default=100, help="repositories of the small store"
    )
    parser.add_argument("--runs", type=int, default=41, help="timed runs per command")
    parser.add_argument("--phase-runs", type=int, default=11, help="fresh interpreters per phase")
    parser.add_argument(
        "--postgres", action="store_true", help="use a throwaway PostgreSQL server, not SQLite"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    arguments = parser.parse_args()
    if not 2 <= arguments.small_repos <= arguments.repos:
        parser.error("--small-repos must be between 2 and --repos")
    if arguments.keys < arguments.repos or arguments.runs < 1 or arguments.phase_runs < 1:
        parser.error("--keys must be at least --repos; --runs and --phase-runs positive")
    return arguments


def benchmark(arguments: argparse.Namespace, scratch: Path) -> bool:
    print(f"bench_authkeys: scratch {scratch}; load average {load()} at start")
    venv = make_venv(scratch, arguments.postgres)
    small_keys = max(
        arguments.small_repos, arguments.keys * arguments.small_repos // arguments.repos
    )
    with stores(scratch, arguments.postgres) as (backend, small_url, large_url):
        small = prepare(scratch / "small", small_url, arguments.small_repos, small_keys)
        large = prepare(scratch / "large", large_url, arguments.repos, arguments.keys)
        for scenario in (small, large):
            lines = scenario.expected_user.count(b"\n")
            print(
                f"store: {backend}; {scenario.repositories:,} repositories, {scenario.keys:,} "
                f"keys, {scenario.keys:,} access rows, {max(1, scenario.repositories // 10):,} "
                f"owners seeded in {scenario.seed_seconds:.1f} s; user {scenario.user} "
                f"({lines} lines)"
            )
        env = sshd_environment()
        print(
            f"environment of every timed run: {', '.join(sorted(env))} only (sshd's), "
            "stdin /dev/null, stdout and stderr through pipes; output checked byte for byte"
        )
        print(f"machine: {os.cpu_count()} CPUs, load average {load()} before timing")
        probes = probes_for(venv, small, large)
        measure(list(probes.values()), arguments.runs, env)
        print(f"load average {load()} after timing")
        print_table(probes, arguments.runs)
        limit = POSTGRES_LIMIT if arguments.postgres else SQLITE_LIMIT
        passed = print_targets(probes, limit, small.repositories, large.repositories)
        print_phases(
            venv,
            probes,
            ["small user", "large user", "large key", "large key no copy"],
            arguments.phase_runs,
            env,
        )
        print_importtime(venv, probes, env)
        print_plans(large)
    print(f"\nload average {load()} at the end")
    print("PASS" if passed else "FAIL")
    return passed


def main() -> int:
    arguments = parse_arguments()
    scratch = Path(tempfile.mkdtemp(prefix="borghive-bench-authkeys-"))
    try:
        passed = benchmark(arguments, scratch)
    finally:
        if arguments.keep:
            print(f"scratch directory kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
