"""The configuration reference tells the truth: every key has help text, and the bounds it
states for numbers are the ones the loader enforces (docs/reference/configuration.md is
written from the same field metadata by scripts/reference)."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import pytest

from borghive.config import SECTIONS, environment_variable
from borghive.config_load import load_config
from borghive.errors import ConfigError
from borghive.rules.bounds import Bound

KEYS = [(section, item) for section, cls in SECTIONS.items() for item in dataclasses.fields(cls)]
IDS = [f"{section}.{item.name}" for section, item in KEYS]
# Keys bounded relative to another: the other is set so that the probed value is valid.
PARTNERS = {
    "repos.uid_min": {"BORGHIVE_REPOS_UID_MAX": str(2**31 - 2)},
    "repos.uid_max": {"BORGHIVE_REPOS_UID_MIN": "1000"},
}
NUMERIC = [
    (section, item)
    for section, item in KEYS
    if typing.get_type_hints(SECTIONS[section])[item.name] in (int, float)
]


def refused(config_file: Path, environ: dict[str, str], key: str) -> bool:
    """Whether the loader refuses the configuration ``environ`` sets, naming ``key``."""
    try:
        load_config(config_file, environ)
    except ConfigError as error:
        section, name = key.split(".")
        # named alone or with its partner (repos.uid_min/uid_max), or all of a section's
        # timeouts at once
        return bool(re.search(rf"\b{section}\.[a-z_/, ]*\b{name}\b", error.message)) or (
            name.endswith("timeout") and f"{section}: timeouts" in error.message
        )
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
def test_every_number_has_a_stated_bound(section: str, item: dataclasses.Field[object]) -> None:
    bound = item.metadata.get("range")
    assert isinstance(bound, Bound), f"{section}.{item.name} has no bound"
    assert str(item.metadata["bounds"]).startswith(bound.words)


@pytest.mark.parametrize(
    ("section", "item"), NUMERIC, ids=[f"{section}.{item.name}" for section, item in NUMERIC]
)
def test_stated_numeric_bounds_are_enforced(
    section: str, item: dataclasses.Field[object], config_file: Path
) -> None:
    key = f"{section}.{item.name}"
    variable = environment_variable(section, item.name)
    bound = item.metadata["range"]
    assert isinstance(bound, Bound)
    is_float = typing.get_type_hints(SECTIONS[section])[item.name] is float
    low = bound.low + 0.001 if bound.above_low else bound.low
    accepted: list[object] = [low, bound.high]
    rejected: list[object] = [bound.low if bound.above_low else bound.low - 1, bound.high + 1]
    rejected += ["inf", "-inf", "nan", "1e300", "-1e300"] if is_float else [10**30, -(10**30)]
    for value in accepted:
        environ = {variable: str(value), **PARTNERS.get(key, {})}
        assert not refused(config_file, environ, key), (key, value)
    for value in rejected:
        assert refused(config_file, {variable: str(value)}, key), (key, value)


def test_the_bounds_cover_ports_percentages_timeouts_and_retention() -> None:
    probed = {f"{section}.{item.name}" for section, item in NUMERIC}
    expected = {
        "repos.ssh_port",
        "alerts.quota_warn_percent",
        "stats.jobs",
        "stats.keep_all_days",
        "stats.time_limit",
        "keys.rsa_min_bits",
        "ldap.connect_timeout",
    }
    assert expected <= probed


def test_environment_variable_names() -> None:
    assert environment_variable("store", "url") == "BORGHIVE_STORE_URL"
    assert environment_variable("alerts", "smtp_ca_file") == "BORGHIVE_ALERTS_SMTP_CA_FILE"
