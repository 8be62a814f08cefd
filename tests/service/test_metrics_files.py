"""The metrics of maintenance and sessions in a real export of a real store, and the files
shipped for them: etc/prometheus/borghive-rules.yml (promtool: syntax, and each alert fired
by the series it is about) and etc/grafana/borghive-dashboard.json (every query parsed by
promtool, every metric it names exported, every exported metric in it)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from borghive.config import Config
from borghive.rules.times import utcnow
from borghive.service.repositories import lifecycle as repos
from borghive.service.repositories.backends import accounts_backend
from borghive.service.stats import collect as stats
from borghive.service.stats import export as stats_export
from borghive.service.users import people as users
from borghive.store.models import BorgSession, Repository, SshKey, User

TOP = Path(__file__).resolve().parents[2]
RULES = TOP / "etc" / "prometheus" / "borghive-rules.yml"
DASHBOARD = TOP / "etc" / "grafana" / "borghive-dashboard.json"
METRIC = re.compile(r"\b(borghive_[a-z_]+)\b")
EXPORTED = {name for name, _ in stats_export._METRICS}


def promtool() -> str:
    """promtool from Debian's prometheus package (scripts/test installs it)."""
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool not found (apt-get install prometheus)")
    return found


@pytest.fixture
def exported(
    store: Config, make_borg_repo: Callable[[Path], Path], tmp_path: Path
) -> tuple[dict[str, list[Any]], dict[str, str]]:
    """A real export of a store where every metric has a sample: alice/laptop (real borg,
    collected, quota, alert period, checked and compacted, two open sessions, its lock
    held for two hours on disk) and alice/remote (not on this host, a session holding
    its lock for an hour), and a key used once."""
    users.add_user("alice")
    laptop = repos.create_repository(
        store, accounts_backend(store), "alice/laptop", quota=10**9, alert_after=86400
    )
    path = make_borg_repo(Path(laptop.repository.path))
    repos.create_repository(store, accounts_backend(store), "alice/remote")
    remote = Repository.get(Repository.name == "remote")
    remote_path = Path(laptop.repository.path).parent.parent / remote.repo_user / "remote"
    if remote_path.exists():
        remote_path.rmdir()
    stats.collect(store)
    now = utcnow()
    Repository.update(
        last_check=now - dt.timedelta(days=3),
        last_check_ok=False,
        last_check_detail="segment 5: crc mismatch",
        last_compact=now - dt.timedelta(days=1),
        last_bytes_freed=123_456_789,
    ).where(Repository.name == "laptop").execute()
    laptop_id = Repository.get(Repository.name == "laptop").id
    for pid in (101, 102):
        BorgSession.create(
            repository=laptop_id, host="here", pid=pid, program="borg", started=now, key_name="k"
        )
    BorgSession.create(
        repository=remote.id,
        host="there",
        pid=103,
        program="borg",
        started=now - dt.timedelta(hours=1),
        lock_since=now - dt.timedelta(hours=1),
    )
    BorgSession.create(  # ended: not live
        repository=remote.id, host="there", pid=104, program="borg", ended=now
    )
    SshKey.create(
        owner=User.get(User.name == "alice"),
        name="laptop-key",
        key_type="ssh-ed25519",
        bits=256,
        fingerprint="SHA256:laptopkey",
        public_key="ssh-ed25519 AAAA",
        last_used=now - dt.timedelta(hours=5),
    )
    SshKey.create(
        owner=User.get(User.name == "alice"),
        name="unused",
        key_type="ssh-ed25519",
        bits=256,
        fingerprint="SHA256:unusedkey",
        public_key="ssh-ed25519 AAAB",
    )
    (path / "lock.exclusive").mkdir()
    held = time.time() - 7200
    os.utime(path / "lock.exclusive", (held, held))
    target = tmp_path / "borghive.prom"
    stats_export.export_prometheus(store, target)
    families = {f.name: f.samples for f in text_string_to_metric_families(target.read_text())}
    users_of = {r.name: r.repo_user for r in Repository.select()}
    return families, users_of


def _value(samples: list[Any], **labels: str) -> float:
    [sample] = [s for s in samples if all(s.labels.get(k) == v for k, v in labels.items())]
    return float(sample.value)


def test_export_gives_sessions_locks_checks_compactions_and_keys(
    exported: tuple[dict[str, list[Any]], dict[str, str]],
) -> None:
    families, _ = exported
    assert {name for name, samples in families.items() if samples} == EXPORTED
    sessions = families["borghive_repository_sessions"]
    assert _value(sessions, repository="laptop") == 2
    assert _value(sessions, repository="remote") == 1  # the ended one is not counted
    ages = families["borghive_repository_lock_age_seconds"]
    assert _value(ages, repository="laptop") == pytest.approx(7200, abs=30)  # from disk
    assert _value(ages, repository="remote") == pytest.approx(3600, abs=30)  # from the row
    checked = _value(families["borghive_repository_last_check_timestamp_seconds"])
    assert checked == pytest.approx(time.time() - 3 * 86400, abs=60)
    assert _value(families["borghive_repository_last_check_ok"]) == 0
    assert _value(families["borghive_repository_last_compact_freed_bytes"]) == 123_456_789
    compacted = _value(families["borghive_repository_last_compact_timestamp_seconds"])
    assert compacted == pytest.approx(time.time() - 86400, abs=60)
    assert _value(families["borghive_repository_alert_after_seconds"]) == 86400
    [used] = families["borghive_key_last_used_timestamp_seconds"]
    assert used.labels == {"owner": "alice", "key": "laptop-key"}
    assert used.value == pytest.approx(time.time() - 5 * 3600, abs=60)
    [written] = families["borghive_export_timestamp_seconds"]
    assert written.labels == {} and written.value == pytest.approx(time.time(), abs=60)


# -- the Prometheus rules ----------------------------------------------------------------------


def test_rules_pass_promtool_and_name_only_exported_metrics(
    exported: tuple[dict[str, list[Any]], dict[str, str]],
) -> None:
    families, _ = exported
    result = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    named = set(METRIC.findall(RULES.read_text()))
    assert named <= {name for name, samples in families.items() if samples}
    for needed in (
        "borghive_repository_last_update_timestamp_seconds",
        "borghive_repository_quota_bytes",
        "borghive_repository_last_check_ok",
        "borghive_repository_lock_age_seconds",
        "borghive_export_timestamp_seconds",
    ):
        assert needed in named


def _series(name: str, values: str, repository: str = "laptop") -> dict[str, str]:
    labels = f'owner="alice",repository="{repository}",repository_user="u1"'
    return {"series": f"{name}{{{labels}}}", "values": values}


def _firing(name: str, severity: str, **labels: str) -> dict[str, Any]:
    return {"alertname": name, "severity": severity, **labels}


def test_each_rule_fires_on_the_series_it_is_about(tmp_path: Path) -> None:
    """promtool's rule unit tests: series as the export writes them, alerts expected (and
    none where the values are fine). time() starts at 0 in these tests."""
    repo = {"owner": "alice", "repository": "laptop", "repository_user": "u1"}
    cases: list[tuple[list[dict[str, str]], str, str, list[dict[str, str]]]] = [
        (
            [
                _series("borghive_repository_last_update_timestamp_seconds", "0x200"),
                _series("borghive_repository_alert_after_seconds", "3600x200"),
            ],
            "2h",
            "BorghiveBackupStale",
            [{"severity": "warning", **repo}],
        ),
        (
            [
                _series("borghive_repository_size_bytes", "95x100"),
                _series("borghive_repository_quota_bytes", "100x100"),
            ],
            "1h",
            "BorghiveQuotaNearlyFull",
            [{"severity": "warning", **repo}],
        ),
        (
            [
                _series("borghive_repository_size_bytes", "100x100"),
                _series("borghive_repository_quota_bytes", "100x100"),
            ],
            "1h",
            "BorghiveQuotaFull",
            [{"severity": "critical", **repo}],
        ),
        (
            [
                _series("borghive_repository_last_check_ok", "0x10"),
                _series("borghive_repository_last_check_ok", "1x10", "desktop"),
            ],
            "5m",
            "BorghiveCheckFailed",
            [{"severity": "critical", **repo}],
        ),
        (
            [
                _series("borghive_repository_lock_age_seconds", "21000+60x60"),
                _series("borghive_repository_lock_age_seconds", "0x60", "desktop"),
            ],
            "30m",
            "BorghiveLockStuck",
            [{"severity": "warning", **repo}],
        ),
        (
            [{"series": "borghive_export_timestamp_seconds", "values": "0x100"}],
            "1h",
            "BorghiveExportStale",
            [{"severity": "critical"}],
        ),
        (
            [{"series": "borghive_export_timestamp_seconds", "values": "0+60x100"}],
            "1h",
            "BorghiveExportStale",
            [],
        ),
    ]
    tests = []
    for series, at, alert, expected in cases:
        tests.append(
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {
                        "eval_time": at,
                        "alertname": alert,
                        "exp_alerts": [{"exp_labels": labels} for labels in expected],
                    }
                ],
            }
        )
    rules = tmp_path / "rules.yml"
    rules.write_text(_without_annotations(RULES.read_text()))
    assert rules.read_text().count("- alert:") == RULES.read_text().count("- alert:")
    spec = tmp_path / "rules-test.yml"
    spec.write_text(json.dumps({"rule_files": [str(rules)], "tests": tests}))  # JSON is YAML
    result = subprocess.run(
        [promtool(), "test", "rules", str(spec)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _without_annotations(text: str) -> str:
    """The rules with their annotations left out: promtool's unit tests compare those as
    well, and it is the expressions these tests are about (``check rules`` has already
    parsed the templates)."""
    kept: list[str] = []
    skipping = False
    for line in text.splitlines():
        if line.strip() == "annotations:":
            skipping = True
            continue
        if skipping and (line.startswith(" " * 10) or not line.strip()):
            continue
        skipping = False
        kept.append(line)
    return "\n".join(kept) + "\n"


# -- the Grafana dashboard ---------------------------------------------------------------------


def _queries(node: Any) -> list[str]:
    """Every ``expr`` anywhere in the dashboard (panels, rows, nested panels)."""
    if isinstance(node, dict):
        found = [node["expr"]] if isinstance(node.get("expr"), str) else []
        for value in node.values():
            found.extend(_queries(value))
        return found
    if isinstance(node, list):
        return [query for item in node for query in _queries(item)]
    return []


def test_dashboard_queries_parse_and_cover_every_exported_metric(
    exported: tuple[dict[str, list[Any]], dict[str, str]], tmp_path: Path
) -> None:
    families, _ = exported
    dashboard = json.loads(DASHBOARD.read_text())
    queries = _queries(dashboard["panels"])
    assert len(queries) >= len(EXPORTED)
    # promtool parses PromQL only inside rules: each query becomes a recording rule, with
    # Grafana's variables replaced by what they expand to.
    concrete = [q.replace("$owner", ".*").replace("$__rate_interval", "5m") for q in queries]
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{n}", "expr": q} for n, q in enumerate(concrete)
                ],
            }
        ]
    }
    parsed = tmp_path / "dashboard-queries.yml"
    parsed.write_text(json.dumps(rules))
    result = subprocess.run(
        [promtool(), "check", "rules", str(parsed)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    named = {name for query in queries for name in METRIC.findall(query)}
    emitted = {name for name, samples in families.items() if samples}
    assert named <= emitted, named - emitted
    assert emitted <= named, emitted - named
    # The owner variable lists what the export labels.
    [variable] = [v for v in dashboard["templating"]["list"] if v["name"] == "owner"]
    assert set(METRIC.findall(variable["definition"])) <= emitted


def test_a_dashboard_query_naming_an_unknown_metric_is_caught() -> None:
    """The coverage check itself: a misspelt name is not among the exported ones."""
    named = set(METRIC.findall("time() - borghive_repository_last_chek_timestamp_seconds"))
    assert not named <= EXPORTED
