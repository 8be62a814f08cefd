"""Fixtures of the LDAP tests, on the session's throwaway slapd (``slapd``, ``clean_slapd``
and ``slapd_tls`` in ``tests/harness/slapd.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from borghive.config import Config
from borghive.ldap.accounts import LdapAccounts
from tests.harness.slapd import Slapd

from .helpers import GID, GROUP, ldap_settings, with_ldap


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
