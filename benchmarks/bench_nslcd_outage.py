"""How long an LDAP outage holds up logins on a storage host: the real nslcd and slapd of
the test harness (tests/harness/outage.py), with the time limits of etc/nslcd.conf, or of
another file (``--options FILE``: nslcd.conf lines), or nslcd's own defaults
(``--nslcd-defaults``). Needs root (a private mount namespace), sshd, nslcd and slapd.

    .venv/bin/python -m benchmarks.bench_nslcd_outage [--nslcd-defaults] [--options FILE]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from tests.harness.outage import measure_outage, shipped_time_options


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--options", type=Path, help="nslcd.conf time-limit lines to measure")
    parser.add_argument(
        "--nslcd-defaults", action="store_true", help="also measure nslcd's built-in defaults"
    )
    arguments = parser.parse_args()
    runs = [("etc/nslcd.conf", shipped_time_options())]
    if arguments.options is not None:
        runs = [(str(arguments.options), arguments.options.read_text())]
    if arguments.nslcd_defaults:
        runs.append(("nslcd's defaults", ""))
    for name, options in runs:
        print(f"== {name}")
        print("".join(f"   {line}\n" for line in options.splitlines()) or "   (none)")
        with tempfile.TemporaryDirectory(prefix="borghive-bench-nslcd-") as work:
            figures = measure_outage(Path(work), options)
        print("\n".join(figures.lines()))
        print(f"refused while slapd was away: {'yes' if figures.all_refused else 'NO'}\n")


if __name__ == "__main__":
    main()
