"""An LDAP outage with the shipped nslcd time limits (etc/nslcd.conf), measured with the
real nslcd and slapd: logins and lookups are refused within seconds while slapd is
stopped (SIGSTOP: connections hang) or killed (connections refused), and names resolve
again within seconds of slapd's return. The bounds are generous for a loaded CI host; the
figures measured are printed (pytest -s), and benchmarks/bench_nslcd_outage.py prints
them too."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.outage import TIME_OPTIONS, measure_outage, shipped_time_options

pytestmark = [pytest.mark.e2e, pytest.mark.sshd, pytest.mark.slapd]

REFUSED_WITHIN = 10.0  # seconds; the shipped limits measure about 3 s for the first login
BACK_WITHIN = 10.0  # seconds after slapd answers again; measured about 1.5 s


def test_the_shipped_file_sets_every_time_limit() -> None:
    options = dict(line.split(None, 1) for line in shipped_time_options().splitlines())
    assert set(options) == set(TIME_OPTIONS)
    # a lookup during an outage must not wait longer than a login may
    assert int(options["bind_timelimit"]) + int(options["timelimit"]) < REFUSED_WITHIN
    assert int(options["reconnect_retrytime"]) < BACK_WITHIN


def test_an_outage_is_refused_within_seconds_and_over_within_seconds(tmp_path: Path) -> None:
    figures = measure_outage(tmp_path)
    print("\n" + "\n".join(figures.lines()))
    assert figures.all_refused  # nothing resolved (or let in) while slapd was away
    assert figures.up_lookup < 2
    assert figures.stopped_login < REFUSED_WITHIN
    assert max(figures.stopped_lookups) < REFUSED_WITHIN
    assert figures.killed_login < REFUSED_WITHIN
    assert max(figures.killed_lookups) < REFUSED_WITHIN
    assert figures.back_after_restart < BACK_WITHIN
