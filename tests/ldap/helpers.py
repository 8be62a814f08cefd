"""Helpers of the LDAP accounts tests: configurations pointing at a test slapd, what the
directory holds as plain ``ldapsearch`` (bound as the root DN) sees it, and LDIF for
entries borghive did not make."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import sys
from functools import cache
from pathlib import Path
from typing import Any

import typer.main
from slapd import Slapd
from typer.core import TyperGroup
from typer.testing import CliRunner, Result

from borghive.cli.app import app
from borghive.config import AccountsConfig, Config, LdapConfig
from borghive.ldap.accounts import LdapAccounts
from borghive.rules.accounts import AccountSpec
from borghive.store.models import database

GROUP = "borgrepos"
GID = 200000


def ldap_settings(slapd: Slapd, **overrides: Any) -> LdapConfig:
    """An LdapConfig for ``slapd`` bound as its service account, plain LDAP, short timeouts."""
    values: dict[str, Any] = {
        "url": slapd.url,
        "start_tls": False,
        "bind_dn": slapd.service_dn,
        "bind_password_file": slapd.service_password_file,
        "base_dn": slapd.suffix,
        "users_dn": slapd.people_dn,
        "groups_dn": slapd.groups_dn,
        "connect_timeout": 2.0,
        "operation_timeout": 5.0,
    }
    values.update(overrides)
    return LdapConfig(**values)


def with_ldap(config: Config, slapd: Slapd, **overrides: Any) -> Config:
    """``config`` with ``accounts.backend = "ldap"`` against ``slapd``."""
    return dataclasses.replace(
        config,
        accounts=AccountsConfig(backend="ldap"),
        ldap=ldap_settings(slapd, **overrides),
    )


def backend_for(config: Config) -> LdapAccounts:
    """The LDAP backend the service layer would get for ``config``."""
    return LdapAccounts(config.ldap, config.repos.group, config.repos.gid)


def spec(name: str = "r1234abcd", uid_number: int = 200001, **changes: Any) -> AccountSpec:
    """The account of repository alice/photos with user ``name``."""
    values: dict[str, Any] = {
        "name": name,
        "uid_number": uid_number,
        "gid_number": GID,
        "home": Path(f"/repos/{name}"),
        "shell": "/bin/sh",
        "gecos": "borghive alice/photos",
    }
    values.update(changes)
    return AccountSpec(**values)


def people(slapd: Slapd) -> dict[str, dict[str, list[str]]]:
    """Every entry directly under ou=people, by uid, as ldapsearch shows it."""
    return {
        entry["uid"][0]: entry
        for entry in slapd.ldapsearch(slapd.people_dn, "(objectClass=*)", "*", scope="one")
    }


def entry(slapd: Slapd, name: str) -> dict[str, list[str]] | None:
    """``uid=<name>,ou=people`` with all user attributes, or None."""
    return people(slapd).get(name)


def group(slapd: Slapd) -> dict[str, list[str]] | None:
    """The repository users' group ``cn=borgrepos,ou=groups``, or None."""
    found = slapd.ldapsearch(slapd.groups_dn, f"(cn={GROUP})", scope="one")
    return found[0] if found else None


def members(slapd: Slapd) -> set[str]:
    """The memberUid values of the repository users' group (empty without the group)."""
    found = group(slapd)
    return set(found.get("memberUid", [])) if found else set()


def posix_ldif(
    dn: str, name: str, uid_number: int, gecos: str | None = None, shell: str = "/bin/sh"
) -> str:
    """One posixAccount entry as LDIF (``gecos`` left out when None)."""
    lines = [
        f"dn: {dn}",
        "objectClass: account",
        "objectClass: posixAccount",
        "objectClass: shadowAccount",
        f"uid: {name}",
        f"cn: {name}",
        f"uidNumber: {uid_number}",
        f"gidNumber: {GID}",
        f"homeDirectory: /repos/{name}",
        f"loginShell: {shell}",
    ]
    if gecos is not None:
        lines.append(f"gecos: {gecos}")
    return "\n".join(lines) + "\n"


def config_toml(config: Config) -> str:
    """The TOML of a test configuration: store, repos, accounts and ldap (JSON strings are
    valid TOML basic strings)."""
    ldap = config.ldap
    text = {
        "store": {"url": config.store.url, "busy_timeout": config.store.busy_timeout},
        "repos": {
            "root": str(config.repos.root),
            "host": config.repos.host,
            "uid_min": config.repos.uid_min,
            "uid_max": config.repos.uid_max,
        },
        "accounts": {"backend": config.accounts.backend},
        "ldap": {
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
        },
    }
    lines: list[str] = []
    for section, values in text.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def ed25519_line(comment: str) -> str:
    """A well-formed ``ssh-ed25519`` public key line with a random key."""
    kind = b"ssh-ed25519"
    blob = len(kind).to_bytes(4, "big") + kind + (32).to_bytes(4, "big") + os.urandom(32)
    return f"ssh-ed25519 {base64.b64encode(blob).decode()} {comment}"


@cache
def _command() -> TyperGroup:
    """borghive's click command tree, built once (CliRunner.invoke rebuilds it each call)."""
    built = typer.main.get_command(app)
    assert isinstance(built, TyperGroup)
    return built


def borghive(config_file: Path, *args: str) -> Result:
    """``borghive --config FILE ARGS...`` in-process; stdout and stderr kept apart. The
    store the test had bound to the models (if any) is bound again afterwards: the command
    binds and closes its own."""
    runner = CliRunner()
    bound = database.obj
    with runner.isolation() as (stdout, stderr, output):
        exit_code = 0
        exception: BaseException | None = None
        try:
            _command().main(args=["--config", str(config_file), *args], prog_name="borghive")
        except SystemExit as exc:
            exit_code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        except Exception as exc:  # noqa: BLE001 - an escaped exception is a result to check
            exit_code, exception = 1, exc
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            if bound is not None:
                database.initialize(bound)
        return Result(
            runner=runner,
            stdout_bytes=stdout.getvalue(),
            stderr_bytes=stderr.getvalue(),
            output_bytes=output.getvalue(),
            return_value=None,
            exit_code=exit_code,
            exception=exception,
        )


def write_config(config: Config, path: Path) -> Path:
    """``config`` as a TOML file at ``path``."""
    path.write_text(config_toml(config))
    return path
