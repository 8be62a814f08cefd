"""Each doctor check passes on a good host and fails, with a message naming the fix, on a
host with the mistake it is there to catch."""

from __future__ import annotations

import dataclasses
import os
import pwd
from pathlib import Path

import pytest

from borghive.config import AccountsConfig, BorgConfig, Config, LdapConfig, StoreConfig
from borghive.login.storeurl import SCHEMA_VERSION
from borghive.rules.accounts import NoAccounts
from borghive.service.doctor import findings, login, permissions
from borghive.service.doctor import host as host_checks
from borghive.service.doctor.findings import Check
from borghive.service.doctor.login import check_authkeys_command
from borghive.service.doctor.permissions import Identity, identity
from borghive.service.repositories import lifecycle as repos
from borghive.service.users import people as users
from borghive.store import execute, open_store, write_transaction
from tests.harness.doctor import USER, Host, executable, write_limits
from tests.harness.net import free_port
from tests.harness.slapd import Slapd

NOBODY_UID = pwd.getpwnam(USER).pw_uid


def test_a_good_host_passes_every_check(host: Host) -> None:
    checks = host.run()
    assert [c.name for c in checks] == [
        "sshd config",
        "store",
        "authkeys command",
        "command user",
        "login copy",
        "store access",
        "login snapshot",
        "borg",
        "rrsync",
        "placement",
        "repos root",
        "repository group",
        "quotas",
        "ldap",
        "inotify watches",
        "inotify instances",
    ]
    assert [c for c in checks if c.status != "ok"] == []
    assert all(isinstance(c, Check) and c.detail for c in checks)


# -- (a) the AuthorizedKeysCommand --------------------------------------------------------------


def test_authkeys_command_ok_names_the_path(host: Host) -> None:
    check = host.check("authkeys command")
    assert check.status == "ok"
    assert str(host.authkeys_command) in check.detail


def test_world_writable_directory_on_the_way_fails(host: Host) -> None:
    host.authkeys_command.parent.chmod(0o777)
    check = host.check("authkeys command")
    assert check.status == "FAIL"
    assert f"directory {host.authkeys_command.parent} is group- and world-writable" in check.detail
    assert "sshd refuses to run it" in check.detail


def test_group_writable_ancestor_fails(host: Host) -> None:
    host.root.chmod(0o775)
    check = host.check("authkeys command")
    assert check.status == "FAIL"
    assert f"directory {host.root} is group-writable" in check.detail


def test_command_owned_by_another_user_fails(host: Host) -> None:
    os.chown(host.authkeys_command, NOBODY_UID, -1)
    check = host.check("authkeys command")
    assert check.status == "FAIL"
    assert f"{host.authkeys_command}: sshd refuses to run it: it is owned by {USER}, not root" in (
        check.detail
    )


def test_directory_owned_by_another_user_fails(host: Host) -> None:
    os.chown(host.authkeys_command.parent, NOBODY_UID, -1)
    check = host.check("authkeys command")
    assert check.status == "FAIL"
    assert f"directory {host.authkeys_command.parent} is owned by {USER}" in check.detail


def test_group_writable_command_fails(host: Host) -> None:
    host.authkeys_command.chmod(0o775)
    check = host.check("authkeys command")
    assert check.status == "FAIL"
    assert "it is group-writable" in check.detail


def test_missing_command_fails_with_the_install_hint(host: Host) -> None:
    host.authkeys_command.unlink()
    check = host.check("authkeys command")
    assert check.status == "FAIL"
    assert "no such file" in check.detail
    assert f"ln -s /opt/borghive/bin/borghive {host.authkeys_command}" in check.detail


def test_relative_command_fails() -> None:
    check = check_authkeys_command(Path("bin/borghive"))
    assert (check.status, check.detail) == ("FAIL", "bin/borghive: sshd needs an absolute path")


def test_command_not_executable_fails(host: Host) -> None:
    host.authkeys_command.chmod(0o644)
    check = host.check("authkeys command")
    assert check.status == "FAIL"
    assert f"{host.authkeys_command}: it is not executable" in check.detail


def test_command_user_who_cannot_reach_the_command_fails(host: Host) -> None:
    host.authkeys_command.parent.chmod(0o700)
    check = host.check("authkeys command")
    assert check.status == "FAIL"
    assert f"{USER} cannot search directory {host.authkeys_command.parent}" in check.detail
    assert "sshd refuses" not in check.detail  # sshd would run it; it would then fail


def test_symlink_to_a_good_command_is_followed(host: Host) -> None:
    link = host.root / "bin" / "borghive-link"
    link.symlink_to(host.authkeys_command)
    check = check_authkeys_command(link, identity(USER))
    assert check.status == "ok", check.detail
    assert f"{link} -> {host.authkeys_command}" in check.detail


def test_symlink_into_a_world_writable_tree_fails(host: Host, tmp_path: Path) -> None:
    """sshd checks the real path: /tmp (mode 1777) on the way is fatal however safe the
    directory holding the link is."""
    target = executable(tmp_path / "borghive")
    link = host.root / "bin" / "borghive-link"
    link.symlink_to(target)
    check = check_authkeys_command(link)
    assert check.status == "FAIL"
    assert f"{link} -> {target}" in check.detail
    assert "directory /tmp is group- and world-writable" in check.detail


# -- (b) the command user -----------------------------------------------------------------------


def test_missing_command_user_fails(host: Host) -> None:
    host.user = "borghive-no-such-user"
    checks = {c.name: c for c in host.run()}
    assert checks["command user"].status == "FAIL"
    assert "no user 'borghive-no-such-user'" in checks["command user"].detail
    assert "useradd --system" in checks["command user"].detail
    assert checks["store access"].status == "FAIL"


def test_configuration_unreadable_for_the_command_user_fails(host: Host) -> None:
    host.config_file.chmod(0o600)
    check = host.check("command user")
    assert check.status == "FAIL"
    assert f"{USER} cannot read {host.config_file}" in check.detail


def test_root_as_command_user_warns(host: Host) -> None:
    host.user = "root"
    checks = {c.name: c for c in host.run()}
    assert checks["command user"].status == "warn"
    assert "give sshd's command an unprivileged user" in checks["command user"].detail
    assert checks["store access"].status == "warn"  # root can write the database


def test_database_unreadable_for_the_command_user_fails(host: Host) -> None:
    os.chown(host.database, 0, 0)
    host.database.chmod(0o600)
    check = host.check("store access")
    assert check.status == "FAIL"
    assert f"{USER} cannot read {host.database} (mode 0600, owner root:root)" in check.detail
    assert f"chgrp {USER} {host.database.parent} {host.database}" in check.detail


def test_database_directory_closed_to_the_command_user_fails(host: Host) -> None:
    host.database.parent.chmod(0o700)
    check = host.check("store access")
    assert check.status == "FAIL"
    assert f"{USER} cannot search {host.database.parent}" in check.detail


def test_database_writable_by_the_command_user_warns(host: Host) -> None:
    host.database.chmod(0o660)
    check = host.check("store access")
    assert check.status == "warn"
    assert f"{USER} can write {host.database}" in check.detail
    assert "it only needs to read" in check.detail


def test_database_directory_writable_by_the_command_user_warns(host: Host) -> None:
    host.database.parent.chmod(0o770)
    check = host.check("store access")
    assert check.status == "warn"
    assert "so it could replace the database" in check.detail


def test_owner_bits_decide_for_the_owner() -> None:
    """Like the kernel: an owner without read permission is refused even when the group
    or others may read."""
    info = os.stat_result((0o100044, 0, 0, 1, NOBODY_UID, 0, 0, 0, 0, 0))
    who = Identity(USER, NOBODY_UID, frozenset({0}))
    assert not permissions.may(info, who, 4)
    assert permissions.may(info, Identity("other", 12345, frozenset()), 4)


@pytest.mark.parametrize("backend", [pytest.param("pg", marks=pytest.mark.pg)])
def test_store_access_on_postgresql_connects(migrated: Config) -> None:
    check = login.check_store_access(migrated, USER)
    assert check.status == "ok", check.detail
    assert "reads schema_migration, repository, access, ssh_key" in check.detail


def test_store_access_on_unreachable_postgresql_fails() -> None:
    port = free_port()
    config = Config(store=StoreConfig(url=f"postgresql://borghive@127.0.0.1:{port}/borghive"))
    check = login.check_store_access(config, USER)
    assert check.status == "FAIL"
    assert f"store postgresql://127.0.0.1:{port}/borghive: cannot connect" in check.detail


def test_postgresql_password_file_is_not_the_command_user_s_business(host: Host) -> None:
    """authkeys never connects to PostgreSQL (it reads the login snapshot): the command user
    need not read the store's password, and should not."""
    secret = host.root / "store-password"
    secret.write_text("secret\n")
    secret.chmod(0o600)
    config = dataclasses.replace(
        host.config,
        store=StoreConfig(url="postgresql://borghive@127.0.0.1/borghive", password_file=secret),
    )
    check = login.check_command_user(config, USER)
    assert check.status == "ok", check.detail
    assert str(secret) not in check.detail


# -- (c) borg and rrsync ------------------------------------------------------------------------


def test_missing_borg_fails(host: Host) -> None:
    host.config.borg.path.unlink()
    check = host.check("borg")
    assert check.status == "FAIL"
    assert f"borg.path {host.config.borg.path} does not exist" in check.detail


def test_missing_rrsync_only_warns(host: Host) -> None:
    host.config = dataclasses.replace(
        host.config, borg=BorgConfig(path=host.config.borg.path, rrsync_path=Path("/nonexistent"))
    )
    check = host.check("rrsync")
    assert check.status == "warn"
    assert "borg.rrsync_path /nonexistent does not exist" in check.detail
    assert "import or export mode" in check.detail


def test_borg_only_root_may_run_fails(host: Host) -> None:
    host.config.borg.path.chmod(0o700)
    check = host.check("borg")
    assert check.status == "FAIL"
    assert "repository users cannot read and execute" in check.detail


def test_borg_directory_a_file(host: Host) -> None:
    host.config = dataclasses.replace(host.config, borg=BorgConfig(path=host.root / "bin"))
    check = host.check("borg")
    assert (check.status, check.detail) == (
        "FAIL",
        f"borg.path {host.root / 'bin'} is not a regular file",
    )


# -- (d) the repos root and the repository group ------------------------------------------------


def test_world_writable_repos_root_fails(host: Host) -> None:
    root = host.config.repos.root
    root.chmod(0o777)
    check = host.check("repos root")
    assert check.status == "FAIL"
    assert f"{root} is world-writable (chmod 0755 {root})" in check.detail


def test_group_writable_repos_root_warns(host: Host) -> None:
    host.config.repos.root.chmod(0o775)
    check = host.check("repos root")
    assert check.status == "warn"
    assert "is group-writable" in check.detail


def test_repos_root_owned_by_another_user_fails(host: Host) -> None:
    os.chown(host.config.repos.root, NOBODY_UID, -1)
    check = host.check("repos root")
    assert check.status == "FAIL"
    assert f"owned by {USER}, not root" in check.detail


def test_missing_repos_root_fails(host: Host) -> None:
    host.config.repos.root.rmdir()
    check = host.check("repos root")
    assert check.status == "FAIL"
    assert "does not exist (install -d -m 0755" in check.detail


def test_store_inside_the_repos_root_fails(host: Host) -> None:
    repos = dataclasses.replace(host.config.repos, root=host.root)
    host.config = dataclasses.replace(host.config, repos=repos)
    check = host.check("repos root")
    assert check.status == "FAIL"
    assert f"the store {host.database} and the repos root {host.root} share a path" in (
        check.detail
    )


def test_unresolvable_repository_group_fails(host: Host) -> None:
    repos = dataclasses.replace(host.config.repos, group="borghive-no-such-group")
    host.config = dataclasses.replace(host.config, repos=repos)
    check = host.check("repository group")
    assert check.status == "FAIL"
    assert "'Match Group borghive-no-such-group' never matches" in check.detail


@pytest.mark.parametrize("backend", ["ldap", "local"])
def test_missing_group_only_warns_before_the_first_repository(host: Host, backend: str) -> None:
    """The ldap and local backends make the group with the first repository."""
    repos = dataclasses.replace(host.config.repos, group="borghive-no-such-group")
    config = dataclasses.replace(
        host.config,
        repos=repos,
        accounts=AccountsConfig(backend=backend),  # type: ignore[arg-type]
    )
    check = host_checks.check_repository_group(config, repositories=0)
    assert check.status == "warn"
    assert f"the {backend} accounts backend makes it with the first repository" in check.detail
    assert host_checks.check_repository_group(config, repositories=1).status == "FAIL"
    assert host_checks.check_repository_group(config, repositories=None).status == "FAIL"


def test_repository_group_with_another_gid_fails(host: Host) -> None:
    repos = dataclasses.replace(host.config.repos, gid=host.config.repos.gid + 1)
    host.config = dataclasses.replace(host.config, repos=repos)
    check = host.check("repository group")
    assert check.status == "FAIL"
    assert f"repos.gid is {host.config.repos.gid}" in check.detail


# -- (e) the store ------------------------------------------------------------------------------


def test_store_ok_counts_repositories(migrated: Config) -> None:
    check, count = host_checks.check_store(migrated)
    assert (check.status, count) == ("ok", 0)
    assert "schema current, 0 repositories" in check.detail


def test_outdated_store_fails(migrated: Config) -> None:
    with open_store(migrated.store, check_schema=False) as db:
        execute("DELETE FROM schema_migration", db=db)
    check, count = host_checks.check_store(migrated)
    assert (check.status, count) == ("FAIL", None)
    needs = f"schema version 0, this borghive needs {SCHEMA_VERSION} (run 'borghive migrate')"
    assert needs in check.detail


def test_missing_sqlite_store_fails(tmp_path: Path) -> None:
    config = Config(store=StoreConfig(url=f"sqlite:///{tmp_path}/none.db"))
    check, _ = host_checks.check_store(config)
    assert check.status == "FAIL"
    assert "no database yet (run 'borghive migrate' to create it)" in check.detail


def test_unreachable_postgresql_store_fails() -> None:
    port = free_port()
    config = Config(store=StoreConfig(url=f"postgresql://u@127.0.0.1:{port}/db"))
    check, count = host_checks.check_store(config)
    assert (check.status, count) == ("FAIL", None)
    assert "cannot connect" in check.detail


# -- (f) LDAP -----------------------------------------------------------------------------------


def test_ldap_not_used() -> None:
    check = host_checks.check_ldap(Config())
    assert (check.status, check.detail) == ("ok", "not used (accounts.backend = none)")


def test_unreachable_ldap_fails() -> None:
    port = free_port()
    config = Config(
        accounts=AccountsConfig(backend="ldap"),
        ldap=LdapConfig(url=f"ldap://127.0.0.1:{port}", start_tls=False, connect_timeout=2.0),
    )
    check = host_checks.check_ldap(config)
    assert check.status == "FAIL"
    assert check.detail.startswith(f"LDAP 127.0.0.1:{port}: ")


def _ldap_config(server: Slapd, password_file: Path) -> Config:
    return Config(
        accounts=AccountsConfig(backend="ldap"),
        ldap=LdapConfig(
            url=server.url,
            start_tls=False,
            bind_dn=server.service_dn,
            bind_password_file=password_file,
            connect_timeout=2.0,
        ),
    )


@pytest.mark.slapd
def test_ldap_answering_passes(slapd: Slapd) -> None:
    check = host_checks.check_ldap(_ldap_config(slapd, slapd.service_password_file))
    assert check.status == "ok", check.detail
    assert check.detail == (
        f"{slapd.url} answers, bound as {slapd.service_dn}; may search {slapd.suffix} and read "
        f"{slapd.people_dn} and {slapd.groups_dn} (writes not tried)"
    )


@pytest.mark.slapd
def test_ldap_wrong_password_fails(slapd: Slapd, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not the password\n")
    check = host_checks.check_ldap(_ldap_config(slapd, wrong))
    assert check.status == "FAIL"
    assert "invalidCredentials" in check.detail


def test_ldap_password_file_missing_fails(tmp_path: Path) -> None:
    config = Config(
        accounts=AccountsConfig(backend="ldap"),
        ldap=LdapConfig(bind_dn="cn=x", bind_password_file=tmp_path / "missing"),
    )
    check = host_checks.check_ldap(config)
    assert check.status == "FAIL"
    assert "ldap.bind_password_file: cannot read" in check.detail


# -- (g) inotify --------------------------------------------------------------------------------


def test_too_few_inotify_watches_fail(host: Host) -> None:
    """Two watches a repository (its home and its directory) and 1000 to spare."""
    write_limits(host.inotify_dir, watches=1005)
    with open_store(host.config.store), write_transaction():
        users.add_user("alice")
        for name in ("one", "two", "three"):
            repos.create_repository(host.config, NoAccounts(), f"alice/{name}")
    check = host.check("inotify watches")
    assert check.status == "FAIL"
    assert "fs.inotify.max_user_watches is 1005, borghive watch needs at least 1006" in (
        check.detail
    )
    assert "sysctl -w fs.inotify.max_user_watches=2012" in check.detail
    write_limits(host.inotify_dir, watches=1006)
    assert host.check("inotify watches").status == "ok"


def test_few_inotify_instances_warn(host: Host) -> None:
    write_limits(host.inotify_dir, instances=4)
    check = host.check("inotify instances")
    assert check.status == "warn"
    assert "sysctl -w fs.inotify.max_user_instances=128" in check.detail


def test_unreadable_inotify_limits_fail(tmp_path: Path) -> None:
    check = host_checks.check_inotify_watches(1000, tmp_path / "nothing")
    assert check.status == "FAIL"
    assert "cannot read" in check.detail


def test_inotify_counts_directories_on_disk_without_a_store(host: Host) -> None:
    host.database.unlink()
    for user in ("ra", "rb"):
        for name in ("one", "two"):
            (host.config.repos.root / user / name).mkdir(parents=True)
    write_limits(host.inotify_dir, watches=1005)
    check = host.check("inotify watches")
    assert check.status == "FAIL"
    assert "needs at least 1006" in check.detail  # 2 homes + 4 repositories + 1000


def test_a_check_that_may_not_look_fails_cleanly() -> None:
    """Run by a non-root admin, a check that cannot stat a path says so instead of crashing."""

    def denied() -> Check:
        raise PermissionError(13, "Permission denied", "/var/lib/borghive/borghive.db")

    assert findings.guarded("store access", denied) == Check(
        "store access",
        "FAIL",
        "cannot check /var/lib/borghive/borghive.db: Permission denied "
        "(run borghive doctor as root)",
    )


def test_placement_names_repositories_on_an_unknown_host(migrated: Config) -> None:
    """A changed repos.host leaves the repositories on the old name: doctor fails and
    names the rename that fixes it."""
    import dataclasses

    from borghive.service.doctor.placement import check_placement
    from borghive.store import open_store
    from borghive.store.models import Repository
    from tests.harness.watch import add_repository

    add_repository(migrated, "ann", "docs")
    with open_store(migrated.store):
        assert {r.host for r in Repository.select()} == {"backup.example.org"}
    assert check_placement(migrated).status == "ok"
    renamed = dataclasses.replace(
        migrated, repos=dataclasses.replace(migrated.repos, host="new.example.org")
    )
    check = check_placement(renamed)
    if migrated.store.url.startswith("sqlite"):
        # a SQLite store serves one host: the old name can only be this host's
        assert check.status == "FAIL"
        assert "1 on backup.example.org" in check.detail
        assert "borghive host rename backup.example.org new.example.org" in check.detail
    else:
        # on PostgreSQL the old name is still a known host, which may be another machine
        assert check.status == "warn"
        assert "not among the storage hosts" in check.detail
        with open_store(migrated.store):
            Repository.update(host="gone.example.org").execute()
        check = check_placement(renamed)
        assert check.status == "FAIL"
        assert "1 on gone.example.org" in check.detail
