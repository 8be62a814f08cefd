"""Loading the configuration: which file, its values over the defaults, the environment
over both, every problem reported at once; and the effective configuration as plain data.

Precedence: built-in defaults < TOML file < ``BORGHIVE_<SECTION>_<KEY>`` environment
variables < command-line flags (applied by the caller with :func:`dataclasses.replace`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from borghive.config import SECTIONS, Config, environment_variable
from borghive.config_parse import read_toml, validate, values_from_environ, values_from_table
from borghive.errors import ConfigError
from borghive.login.configfiles import CONFIG_ENV, DEFAULT_CONFIG

DEFAULT_CONFIG_PATH = Path(DEFAULT_CONFIG)


def resolve_config_path(explicit: Path | None, environ: Mapping[str, str]) -> tuple[Path, bool]:
    """Return the config file to read and whether it must exist.

    A path given on the command line or in ``BORGHIVE_CONFIG`` must exist; the default
    path may be missing, in which case the built-in defaults apply.
    """
    if explicit is not None:
        return explicit, True
    from_env = environ.get(CONFIG_ENV)
    if from_env:
        return Path(from_env), True
    return DEFAULT_CONFIG_PATH, False


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read, type-check and validate the configuration.

    ``path`` is the ``--config`` flag (None when not given); ``environ`` defaults to
    ``os.environ``. Raises :class:`ConfigError` listing every problem found.
    """
    environ = os.environ if environ is None else environ
    file_path, required = resolve_config_path(path, environ)
    raw, source = read_toml(file_path, required)

    problems: list[str] = []
    sections: dict[str, Any] = {}
    for key in raw:
        if key not in SECTIONS:
            problems.append(f"{source}: {key}: unknown section")
    for name, cls in SECTIONS.items():
        table = raw.get(name, {})
        if not isinstance(table, dict):
            problems.append(f"{source}: {name}: expected a table")
            table = {}
        values = values_from_table(cls, name, table, source, problems)
        variables = {f.name: environment_variable(name, f.name) for f in dataclasses.fields(cls)}
        values.update(values_from_environ(cls, variables, environ, problems))
        try:
            sections[name] = cls(**values)
        except TypeError as exc:  # pragma: no cover - guarded by the checks above
            problems.append(f"{source}: {name}: {exc}")
    # Values refused above fall back to their defaults here, so the semantic checks still
    # run and every problem is reported at once.
    config = Config(source=source, **sections)
    problems.extend(f"{source}: {problem}" for problem in validate(config))
    if problems:
        raise ConfigError("invalid configuration\n  " + "\n  ".join(problems))
    return config


def config_as_dict(config: Config) -> dict[str, Any]:
    """The effective configuration as plain data for display.

    Secrets never appear: the configuration holds only the paths of secret files, and
    :func:`~borghive.config_parse.validate` refuses a password inside ``store.url``.
    """
    result: dict[str, Any] = {"source": config.source}
    for name in SECTIONS:
        section = getattr(config, name)
        values: dict[str, Any] = {}
        for item in dataclasses.fields(section):
            value = getattr(section, item.name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, Mapping):
                value = {name: str(path) for name, path in value.items()}
            values[item.name] = value
        if name == "repos":
            values["public_host"] = section.public_host
        result[name] = values
    return result
