"""Test configurations and the TOML files the installed command reads them from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from borghive.config import Config, ReposConfig, StoreConfig, WatchConfig


def make_config(tmp_path: Path, store_url: str, **repos: Any) -> Config:
    """A configuration for tests: the given store, repos root and the watch spool under
    ``tmp_path``."""
    root = tmp_path / "repos"
    root.mkdir(exist_ok=True)
    return Config(
        source="<tests>",
        store=StoreConfig(url=store_url, busy_timeout=30.0),
        repos=ReposConfig(root=root, host="backup.example.org", **repos),
        watch=WatchConfig(spool=tmp_path / "watch.spool"),
    )


def migrate(config: Config) -> Config:
    """``config`` after creating its store and applying every migration."""
    from borghive.store import open_store
    from borghive.store.migrations import apply_migrations

    with open_store(config.store, check_schema=False, create=True) as db:
        apply_migrations(db, config.repos.public_host)
    return config


def toml_text(sections: dict[str, dict[str, Any]]) -> str:
    """TOML of sections of plain values (strings, numbers, booleans, and tables of them as
    inline tables): JSON strings are valid TOML basic strings and quoted keys."""
    lines: list[str] = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, dict):
        entries = ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + entries + " }"
    return json.dumps(value)


def config_toml(config: Config, **sections: dict[str, Any]) -> str:
    """The TOML of a test configuration: store, repos, and accounts and ldap where it uses
    the LDAP backend; then ``sections`` (e.g. ``borg={"umask": "0027"}``)."""
    text: dict[str, dict[str, Any]] = {
        "store": {"url": config.store.url, "busy_timeout": config.store.busy_timeout},
        "repos": {
            "root": str(config.repos.root),
            "host": config.repos.host,
            "uid_min": config.repos.uid_min,
            "uid_max": config.repos.uid_max,
        },
        "watch": {"spool": str(config.watch.spool)},
    }
    if config.borg.versions:
        text["borg"] = {"versions": {k: str(v) for k, v in config.borg.versions.items()}}
    if config.accounts.backend == "ldap":
        ldap = config.ldap
        text["accounts"] = {"backend": config.accounts.backend}
        text["ldap"] = {
            "url": ldap.url,
            "start_tls": ldap.start_tls,
            "bind_dn": ldap.bind_dn,
            "bind_password_file": str(ldap.bind_password_file or ""),
            "base_dn": ldap.base_dn,
            "users_dn": ldap.users_dn,
            "groups_dn": ldap.groups_dn,
            "connect_timeout": ldap.connect_timeout,
            "operation_timeout": ldap.operation_timeout,
            **({"ca_file": str(ldap.ca_file)} if ldap.ca_file else {}),
        }
    return toml_text({**text, **sections})


def write_config(config: Config, path: Path) -> Path:
    """``config`` as a TOML file at ``path``."""
    path.write_text(config_toml(config))
    return path
