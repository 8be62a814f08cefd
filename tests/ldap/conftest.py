"""Fixtures of the LDAP tests: one throwaway slapd per session (see ``tests/slapd.py``).

``slapd`` is the plain server (no TLS), started once; ``clean_slapd`` is the same server
reset before and after the test (ou=people, ou=groups and ou=others emptied, a killed
slapd restarted); ``slapd_tls`` is a second server that offers StartTLS with a throwaway CA
(``slapd_tls.ca_file``), started the first time a test asks for it. Without slapd and
ldap-utils these tests skip locally and fail under ``CI=true``.

This directory has an ``__init__.py`` like the other test directories: a conftest.py
outside a package is imported as module ``conftest`` and replaces tests/conftest.py in
``sys.modules``, which breaks ``from conftest import ...`` in later test modules. As a
package this directory is imported as ``ldap`` (tests/ itself is no package), so during a
test run ``import ldap`` finds it, not python-ldap; the project uses ldap3.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slapd import Slapd, missing_programs
from support import missing_service

from borghive.config import Config
from borghive.ldap.accounts import LdapAccounts

from .helpers import GID, GROUP, ldap_settings, with_ldap


def _require_openldap(config: pytest.Config, *, tls: bool = False) -> None:
    missing = missing_programs(tls=tls)
    if missing:
        missing_service(
            f"OpenLDAP missing: {', '.join(missing)} "
            "(apt-get install --no-install-recommends slapd ldap-utils openssl)",
        )


@pytest.fixture(scope="session")
def slapd(request: pytest.FixtureRequest) -> Iterator[Slapd]:
    """A running slapd without TLS for the whole session; tests share its data."""
    _require_openldap(request.config)
    with Slapd() as server:
        yield server


@pytest.fixture
def clean_slapd(slapd: Slapd) -> Iterator[Slapd]:
    """The session's slapd with ou=people, ou=groups and ou=others empty (reset before and
    after the test; restarted if the test killed it)."""
    slapd.reset()
    yield slapd
    slapd.reset()


@pytest.fixture(scope="session")
def slapd_tls(request: pytest.FixtureRequest) -> Iterator[Slapd]:
    """A second slapd that offers StartTLS; its CA certificate is ``slapd_tls.ca_file``."""
    _require_openldap(request.config, tls=True)
    with Slapd(tls=True) as server:
        yield server


# -- fixtures of the accounts backend tests (test_accounts.py, test_repos_ldap.py, ...) ------


@pytest.fixture
def ldap_config(store: Config, clean_slapd: Slapd) -> Config:
    """The test configuration on a migrated, open store (SQLite and PostgreSQL) with
    ``accounts.backend = "ldap"`` against the freshly reset session slapd."""
    return with_ldap(store, clean_slapd)


@pytest.fixture
def directory(clean_slapd: Slapd) -> Iterator[LdapAccounts]:
    """An LdapAccounts backend bound as the service account of the reset slapd; closed
    after the test."""
    backend = LdapAccounts(ldap_settings(clean_slapd), GROUP, GID)
    yield backend
    backend.close()
