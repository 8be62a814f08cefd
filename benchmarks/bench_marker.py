"""What the session marker costs ``borghive authkeys``: every forced command starts with
``BORGHIVE_KEY=<fingerprint> exec`` (borghive/login/lines.py), so each line costs one
base64 decode and one SHA-256 of the key (CPython's built-in ``_sha256``/``_sha2``, not
hashlib). Target: at most 0.5 ms per authkeys call (judged on the call sshd makes, with
the offered key; the call without a key is reported beside it).

Side by side, with the marker and without it (``lines._marker`` patched to return a bare
``exec``: the same line less the fingerprint):

1. in process: the lines of one repository user with ``--keys`` granted keys, rebuilt by
   ``authorized_line`` from the grants already read (the store is not in the loop), per
   call and per line;
2. end to end: the whole ``authkeys USER`` (every line) and ``authkeys USER TYPE KEY``
   (one line) in a fresh interpreter, with sshd's environment, on a SQLite store with the
   login copy, round-robin so that noise hits both variants alike. Both variants run the
   same small wrapper, which differs only in the patch.

    .venv/bin/python -m benchmarks.bench_marker [--keys 20] [--runs 41] [--loops 2000]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_foundation import ed25519_public_key
from borghive.config import Config, ReposConfig, StoreConfig
from borghive.config_load import load_config
from borghive.login import lines
from borghive.login.cache import write_login_cache
from borghive.login.query import grants_for
from borghive.login.settings import cached_settings
from borghive.rules.accounts import NoAccounts
from borghive.service.repositories import lifecycle as repos
from borghive.service.users import keys as user_keys
from borghive.service.users import people
from borghive.store import open_store
from borghive.store.migrations import apply_migrations
from tests.harness.config import config_toml

TARGET_MS = 0.5
SSHD_ENV = {
    "PATH": "/usr/bin:/bin",
    "USER": "nobody",
    "LOGNAME": "nobody",
    "HOME": "/nonexistent",
    "LANG": "C.UTF-8",
}
_WRAPPER = (
    "import sys\n"
    "import borghive.login.lines as lines\n"
    "{patch}"
    "from borghive.login.authkeys import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)
VARIANTS = {
    "with marker": _WRAPPER.format(patch=""),
    "without": _WRAPPER.format(patch="lines._marker = lambda grant: 'exec'\n"),
}


def _bare_exec(grant: lines.Grant) -> str:
    return "exec"


def prepare(scratch: Path, key_count: int) -> tuple[Path, str, str]:
    """A SQLite store with one repository user holding ``key_count`` keys, its
    configuration file and login copy; returns (config file, repository user, a key)."""
    root = scratch / "repos"
    root.mkdir()
    config = Config(
        source="<bench>",
        store=StoreConfig(url=f"sqlite:///{scratch}/borghive.db"),
        repos=ReposConfig(root=root, host="backup.example.org"),
    )
    config_file = scratch / "borghive.toml"
    config_file.write_text(config_toml(config))
    with open_store(config.store, check_schema=False, create=True) as db:
        apply_migrations(db)
    names = [f"k{index}" for index in range(key_count)]
    with open_store(config.store):
        people.add_user("alice")
        for index, name in enumerate(names):
            text, _ = ed25519_public_key(index)
            user_keys.add_key("alice", text, name, rsa_min_bits=3072)
        created = repos.create_repository(config, NoAccounts(), "alice/photos", keys=names)
    loaded = load_config(config_file, {})
    assert write_login_cache(loaded, environ={}) is not None
    return config_file, created.repository.repo_user, ed25519_public_key(0)[1]


def in_process(config_file: Path, repo_user: str, loops: int) -> dict[str, float]:
    """Seconds per rebuild of every line of ``repo_user``, by variant (best of 5)."""
    settings = cached_settings(str(config_file))
    assert settings is not None
    grants = grants_for(settings, repo_user, None, None)
    original = lines._marker
    results: dict[str, float] = {}
    try:
        for name, marker in (("with marker", original), ("without", _bare_exec)):
            lines._marker = marker
            best = float("inf")
            for _ in range(5):
                started = time.perf_counter()
                for _ in range(loops):
                    for grant in grants:
                        lines.authorized_line(settings, repo_user, grant)
                best = min(best, (time.perf_counter() - started) / loops)
            results[name] = best
    finally:
        lines._marker = original
    return results


def end_to_end(
    config_file: Path, arguments: list[list[str]], runs: int
) -> dict[tuple[str, int], list[float]]:
    """Wall times of each variant for each argument list, round-robin."""
    samples: dict[tuple[str, int], list[float]] = {
        (name, index): [] for name in VARIANTS for index in range(len(arguments))
    }
    for _ in range(runs):
        for index, extra in enumerate(arguments):
            for name, wrapper in VARIANTS.items():
                command = [sys.executable, "-c", wrapper, "--config", str(config_file)]
                started = time.perf_counter()
                done = subprocess.run(
                    [*command, "authkeys", *extra],
                    env=SSHD_ENV,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    check=False,
                )
                elapsed = time.perf_counter() - started
                assert done.returncode == 0 and done.stdout, (name, done.stderr)
                marked = b"BORGHIVE_KEY=SHA256:" in done.stdout
                assert marked == (name == "with marker"), done.stdout[:200]
                samples[(name, index)].append(elapsed)
    return samples


def import_cost() -> float:
    """Seconds ``python -X importtime`` gives binascii and the built-in SHA-256 module in a
    fresh interpreter (what the first fingerprint of a run loads; median of 5)."""
    code = "import binascii\ntry:\n    import _sha256\nexcept ImportError:\n    import _sha2\n"
    totals = []
    for _ in range(5):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code],
            capture_output=True, text=True, check=True, env=SSHD_ENV,
        )  # fmt: skip
        total = 0
        for line in done.stderr.splitlines():
            parts = line.split("|")
            if len(parts) == 3 and parts[2].strip() in ("binascii", "_sha256", "_sha2"):
                total += int(parts[0].split(":")[1])
        totals.append(total / 1e6)
    return statistics.median(totals)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=20, help="keys of the repository user")
    parser.add_argument("--runs", type=int, default=41, help="end-to-end runs per variant")
    parser.add_argument("--loops", type=int, default=2000, help="in-process rebuilds")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="borghive-bench-marker-") as directory:
        config_file, repo_user, blob = prepare(Path(directory), arguments.keys)
        inner = in_process(config_file, repo_user, arguments.loops)
        calls = [[repo_user], [repo_user, "ssh-ed25519", blob]]
        outer = end_to_end(config_file, calls, arguments.runs)
    added = inner["with marker"] - inner["without"]
    print(f"in process: rebuilding the {arguments.keys} lines of one repository user")
    for name, seconds in inner.items():
        per_line = seconds / arguments.keys * 1e6
        print(f"  {name:12} {seconds * 1e6:9.1f} µs per call  {per_line:7.2f} µs per line")
    per_line = added / arguments.keys * 1e6
    print(f"  the marker adds {added * 1e6:.1f} µs per call, {per_line:.2f} µs per line")
    imports = import_cost()
    print(f"  importing the digest modules, once per run: {imports * 1000:.3f} ms")
    print(f"end to end: median of {arguments.runs} runs, fresh interpreter, SQLite, login copy")
    worst = -float("inf")
    for index, label in enumerate(
        (f"authkeys USER ({arguments.keys} lines)", "authkeys USER TYPE KEY (1 line)")
    ):
        marked = statistics.median(outer[("with marker", index)])
        bare = statistics.median(outer[("without", index)])
        worst = max(worst, marked - bare)
        print(
            f"  {label:34} with {marked * 1000:6.2f} ms  without {bare * 1000:6.2f} ms"
            f"  difference {(marked - bare) * 1000:+.2f} ms"
        )
    # The in-process figures are the cost; end to end it drowns in start-up noise. sshd
    # always offers the key (authkeys %u %t %k): one line, and the query has fingerprinted
    # the offered key already, so the digest modules are loaded anyway. Without a key
    # (authkeys USER, by hand) the marker loads them itself and rebuilds every line.
    by_key = added / arguments.keys
    by_user = added + imports
    verdicts = {
        "authkeys USER TYPE KEY (what sshd runs)": by_key,
        f"authkeys USER ({arguments.keys} lines, first fingerprint of the run)": by_user,
    }
    print(f"target: the marker adds at most {TARGET_MS} ms per call")
    for label, cost in verdicts.items():
        verdict = "PASS" if cost * 1000 <= TARGET_MS else "FAIL"
        print(f"  {label:62} {cost * 1000:7.3f} ms  {verdict}")
    print(f"  end to end, largest median difference {worst * 1000:+.2f} ms (start-up noise)")
    verdict = "PASS" if by_key * 1000 <= TARGET_MS else "FAIL"
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
