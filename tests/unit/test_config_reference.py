"""The configuration reference tells the truth: every key has help text, and the bounds it
states for numbers are the ones the loader enforces (docs/reference/configuration.md is
written from the same field metadata by scripts/reference)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from borghive.config import SECTIONS, environment_variable, load_config
from borghive.errors import ConfigError

KEYS = [(section, item) for section, cls in SECTIONS.items() for item in dataclasses.fields(cls)]
IDS = [f"{section}.{item.name}" for section, item in KEYS]
RANGE = re.compile(r"^(\d+) to (\d+)$")
AT_LEAST = re.compile(r"^at least (\d+)$")
POSITIVE = "greater than 0, finite"
NUMERIC = [
    (section, item)
    for section, item in KEYS
    if RANGE.match(bounds := str(item.metadata.get("bounds", "")))
    or AT_LEAST.match(bounds)
    or bounds == POSITIVE
]


def refused(config_file: Path, variable: str, value: str, key: str) -> bool:
    """Whether the loader refuses ``value`` for ``key`` set through the environment."""
    try:
        load_config(config_file, {variable: value})
    except ConfigError as error:
        return key in error.message or key.split(".")[0] + ": timeouts" in error.message
    return False


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "borghive.toml"
    path.write_text("")
    return path


@pytest.mark.parametrize(("section", "item"), KEYS, ids=IDS)
def test_every_key_has_help_text(section: str, item: dataclasses.Field[object]) -> None:
    assert str(item.metadata.get("help", "")).strip(), f"{section}.{item.name} has no help"


@pytest.mark.parametrize(
    ("section", "item"), NUMERIC, ids=[f"{section}.{item.name}" for section, item in NUMERIC]
)
def test_stated_numeric_bounds_are_enforced(
    section: str, item: dataclasses.Field[object], config_file: Path
) -> None:
    key = f"{section}.{item.name}"
    variable = environment_variable(section, item.name)
    bounds = str(item.metadata.get("bounds", ""))
    if match := RANGE.match(bounds):
        low, high = int(match[1]), int(match[2])
        accepted, rejected = [low, high], [low - 1, high + 1]
    elif match := AT_LEAST.match(bounds):
        accepted, rejected = [int(match[1])], [int(match[1]) - 1]
    else:
        accepted, rejected = [0.001], [0, -1, float("inf")]
    for value in accepted:
        assert not refused(config_file, variable, str(value), key), (key, value)
    for value in rejected:
        assert refused(config_file, variable, str(value), key), (key, value)


def test_the_numeric_bounds_cover_ports_percentages_and_timeouts() -> None:
    probed = {f"{section}.{item.name}" for section, item in NUMERIC}
    expected = {"repos.ssh_port", "alerts.quota_warn_percent", "stats.jobs", "ldap.connect_timeout"}
    assert expected <= probed


def test_environment_variable_names() -> None:
    assert environment_variable("store", "url") == "BORGHIVE_STORE_URL"
    assert environment_variable("alerts", "smtp_ca_file") == "BORGHIVE_ALERTS_SMTP_CA_FILE"
