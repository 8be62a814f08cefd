"""The slapd harness itself: what later LDAP tests rely on, checked against the real server."""

from __future__ import annotations

import os
import ssl
import stat
import subprocess

import ldap3
import pytest
from ldap3.core.exceptions import LDAPSocketOpenError, LDAPStartTLSError

from borghive.ldap.tls import VerifiedTls, server_context
from tests.harness.slapd import LdapToolError, Slapd, parse_ldif

pytestmark = pytest.mark.slapd

START_TLS_OID = "1.3.6.1.4.1.1466.20037"


def connect(
    server: Slapd,
    user: str | None = None,
    password: str | None = None,
    tls: ldap3.Tls | None = None,
    *,
    start_tls: bool = False,
) -> ldap3.Connection:
    """An open ldap3 connection to ``server``, bound as ``user`` (anonymous if None)."""
    target = ldap3.Server(
        server.host, port=server.port, get_info=ldap3.NONE, tls=tls, connect_timeout=5
    )
    connection = ldap3.Connection(target, user=user, password=password, receive_timeout=10)
    connection.open()
    if start_tls:
        connection.start_tls()
    if user is not None:
        connection.bind()
    return connection


def as_service(server: Slapd) -> ldap3.Connection:
    connection = connect(server, server.service_dn, server.service_password)
    assert connection.bound, connection.result
    return connection


def posix_account(name: str, uid_number: int) -> dict[str, object]:
    return {
        "objectClass": ["account", "posixAccount", "shadowAccount"],
        "uid": name,
        "cn": name,
        "uidNumber": uid_number,
        "gidNumber": uid_number,
        "homeDirectory": f"/srv/borg/{name}",
        "loginShell": "/bin/sh",
        "shadowLastChange": 20000,
    }


def ldif(dn: str, attributes: dict[str, object]) -> str:
    lines = [f"dn: {dn}"]
    for name, value in attributes.items():
        values = value if isinstance(value, list) else [value]
        lines += [f"{name}: {item}" for item in values]
    return "\n".join(lines) + "\n"


def many_accounts_ldif(server: Slapd, count: int) -> str:
    return "\n".join(
        f"dn: uid=u{n},{server.people_dn}\nobjectClass: account\nobjectClass: posixAccount\n"
        f"uid: u{n}\ncn: u{n}\nuidNumber: {20000 + n}\ngidNumber: 100\n"
        f"homeDirectory: /srv/borg/u{n}\n"
        for n in range(count)
    )


def test_root_dse_answers_anonymously_and_the_tree_does_not(clean_slapd: Slapd) -> None:
    answer = subprocess.run(
        ["ldapsearch", "-x", "-LLL", "-H", clean_slapd.url, "-b", "", "-s", "base",
         "namingContexts"],
        capture_output=True, text=True, env={**os.environ, "LDAPNOINIT": "1"}, check=True,
    )  # fmt: skip
    assert parse_ldif(answer.stdout) == [{"dn": [""], "namingContexts": ["dc=example,dc=org"]}]
    anonymous = connect(clean_slapd)
    anonymous.search(clean_slapd.suffix, "(objectClass=*)", attributes=["*"])
    assert anonymous.entries == []
    assert anonymous.result["description"] == "noSuchObject"


def test_base_entries_and_password_files(clean_slapd: Slapd) -> None:
    dns = [entry["dn"][0] for entry in clean_slapd.ldapsearch(clean_slapd.suffix)]
    # slapd's listing order changes once entries were deleted and re-added: compare sets.
    assert sorted(dns) == sorted(
        [
            "dc=example,dc=org",
            "ou=people,dc=example,dc=org",
            "ou=groups,dc=example,dc=org",
            "ou=services,dc=example,dc=org",
            "ou=others,dc=example,dc=org",
            "cn=borghive,ou=services,dc=example,dc=org",
        ]
    )
    for path, secret in [
        (clean_slapd.password_file, clean_slapd.password),
        (clean_slapd.service_password_file, clean_slapd.service_password),
    ]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_text() == secret
    assert clean_slapd.password != clean_slapd.service_password
    (service,) = clean_slapd.ldapsearch(clean_slapd.service_dn, "(objectClass=*)", scope="base")
    assert service["userPassword"][0].startswith("{SSHA}")


def test_service_account_adds_an_account_that_ldapsearch_shows(clean_slapd: Slapd) -> None:
    service = as_service(clean_slapd)
    assert service.extend.standard.who_am_i() == f"dn:{clean_slapd.service_dn}"
    dn = f"uid=alice,{clean_slapd.people_dn}"
    attributes = {**posix_account("alice", 10001), "userPassword": "alice-secret"}
    assert service.add(dn, attributes=attributes), service.result

    (entry,) = clean_slapd.ldapsearch(clean_slapd.people_dn, "(uidNumber=10001)")
    assert entry["dn"] == [dn]
    assert sorted(entry["objectClass"]) == ["account", "posixAccount", "shadowAccount"]
    assert entry["uid"] == ["alice"]
    assert entry["homeDirectory"] == ["/srv/borg/alice"]
    assert entry["shadowLastChange"] == ["20000"]
    # The new account binds with its password; it reads the tree but not passwords.
    alice = connect(clean_slapd, dn, "alice-secret")
    assert alice.bound, alice.result
    alice.search(clean_slapd.services_dn, "(cn=borghive)", attributes=["*"])
    (seen,) = [e.entry_attributes_as_dict for e in alice.entries]
    assert seen["cn"] == ["borghive"]
    assert "userPassword" not in seen


def test_wrong_password_does_not_bind(clean_slapd: Slapd) -> None:
    wrong = connect(clean_slapd, clean_slapd.service_dn, clean_slapd.service_password + "x")
    assert not wrong.bound
    assert wrong.result["description"] == "invalidCredentials"
    root = connect(clean_slapd, clean_slapd.root_dn, "not-the-password")
    assert not root.bound
    assert root.result["description"] == "invalidCredentials"


def test_service_account_cannot_write_outside_people_and_groups(clean_slapd: Slapd) -> None:
    clean_slapd.ldapadd(ldif(f"uid=bob,{clean_slapd.others_dn}", posix_account("bob", 10002)))
    service = as_service(clean_slapd)
    refused = [
        service.add(f"uid=carol,{clean_slapd.others_dn}", attributes=posix_account("carol", 3)),
        service.add(f"cn=other,{clean_slapd.services_dn}", attributes={
            "objectClass": ["organizationalRole"], "cn": "other"}),
        service.modify(f"uid=bob,{clean_slapd.others_dn}",
                       {"loginShell": [(ldap3.MODIFY_REPLACE, ["/bin/bash"])]}),
        service.modify(clean_slapd.suffix, {"o": [(ldap3.MODIFY_REPLACE, ["Mine"])]}),
        service.delete(f"uid=bob,{clean_slapd.others_dn}"),
        service.modify(clean_slapd.people_dn, {"description": [(ldap3.MODIFY_DELETE, [])]}),
    ]  # fmt: skip
    assert refused == [False] * len(refused)
    assert service.result["description"] == "insufficientAccessRights"
    # ... but reads there, and writes in ou=groups.
    service.search(clean_slapd.others_dn, "(uid=bob)", attributes=["uidNumber"])
    assert [e.uidNumber.value for e in service.entries] == ["10002"]
    group = {"objectClass": ["posixGroup"], "cn": "backup", "gidNumber": 10002}
    assert service.add(f"cn=backup,{clean_slapd.groups_dn}", attributes=group), service.result
    (bob,) = clean_slapd.ldapsearch(clean_slapd.others_dn, "(uid=bob)", "loginShell")
    assert bob["loginShell"] == ["/bin/sh"]


def test_more_than_500_entries_need_paging(clean_slapd: Slapd) -> None:
    clean_slapd.ldapadd(many_accounts_ldif(clean_slapd, 600))
    assert len(clean_slapd.ldapsearch(clean_slapd.people_dn, "(uid=*)", "1.1")) == 600

    service = as_service(clean_slapd)
    service.search(clean_slapd.people_dn, "(objectClass=posixAccount)", attributes=["uid"])
    assert service.result["description"] == "sizeLimitExceeded"
    assert len(service.entries) == clean_slapd.size_limit == 500

    paged = service.extend.standard.paged_search(
        clean_slapd.people_dn, "(objectClass=posixAccount)", attributes=["uidNumber"],
        paged_size=200, generator=False,
    )  # fmt: skip
    assert service.result["description"] == "success"
    # get_info=NONE: without the schema ldap3 returns every value as a list of str.
    numbers = sorted(int(value) for entry in paged for value in entry["attributes"]["uidNumber"])
    assert numbers == list(range(20000, 20600))


def test_kill_and_restart_keep_port_and_data(clean_slapd: Slapd) -> None:
    port, pid = clean_slapd.port, clean_slapd.pid
    assert as_service(clean_slapd).add(
        f"uid=dave,{clean_slapd.people_dn}", attributes=posix_account("dave", 10004)
    )
    clean_slapd.kill()
    assert not clean_slapd.running
    with pytest.raises(LDAPSocketOpenError):
        connect(clean_slapd)

    clean_slapd.restart()
    assert clean_slapd.running
    assert (clean_slapd.port, clean_slapd.url) == (port, f"ldap://127.0.0.1:{port}")
    assert clean_slapd.pid != pid
    service = as_service(clean_slapd)
    service.search(clean_slapd.people_dn, "(uid=dave)", attributes=["uidNumber"])
    assert [e.uidNumber.value for e in service.entries] == ["10004"]


def test_reset_restores_a_killed_and_damaged_server(slapd: Slapd) -> None:
    slapd.ldapadd(f"dn: cn=x,{slapd.others_dn}\nobjectClass: organizationalRole\ncn: x\n")
    slapd.ldapdelete(slapd.services_dn, recursive=True)
    slapd.kill()
    slapd.reset()
    assert slapd.running
    assert slapd.ldapsearch(slapd.others_dn, "(cn=x)") == []
    assert as_service(slapd).bound


def test_utf8_and_long_values_round_trip(clean_slapd: Slapd) -> None:
    description = " Überlänge, führendes Leerzeichen " + "x" * 200
    service = as_service(clean_slapd)
    attributes = {**posix_account("erin", 10005), "description": description}
    assert service.add(f"uid=erin,{clean_slapd.people_dn}", attributes=attributes)
    (entry,) = clean_slapd.ldapsearch(clean_slapd.people_dn, "(uid=erin)", "description")
    assert entry["description"] == [description]


def test_parse_ldif_folds_and_base64() -> None:
    text = (
        "dn: uid=a,ou=people,dc=exa\n mple,dc=org\nuid: a\ndescription:: w5xiZXI=\n"
        "memberUid: x\nmemberUid: y\n\n"
        "dn:: dWlkPWLDvCxvdT1wZW9wbGUsZGM9ZXhhbXBsZSxkYz1vcmc=\ncn:\n"
    )
    assert parse_ldif(text) == [
        {"dn": ["uid=a,ou=people,dc=example,dc=org"], "uid": ["a"], "description": ["Über"],
         "memberUid": ["x", "y"]},
        {"dn": ["uid=bü,ou=people,dc=example,dc=org"], "cn": [""]},
    ]  # fmt: skip


def test_tool_errors_carry_the_ldap_result_code(clean_slapd: Slapd) -> None:
    with pytest.raises(LdapToolError) as missing:
        clean_slapd.ldapsearch(f"ou=nowhere,{clean_slapd.suffix}")
    assert missing.value.returncode == 32  # noSuchObject
    with pytest.raises(LdapToolError) as exists:
        clean_slapd.ldapadd(f"dn: {clean_slapd.people_dn}\nobjectClass: organizationalUnit\n")
    assert exists.value.returncode == 68  # entryAlreadyExists


def test_start_tls_with_the_ca(slapd_tls: Slapd) -> None:
    # borghive's own verification (Python's ssl): ldap3's Tls checks the name with its
    # backport of match_hostname on Python >= 3.12, which ignores IP addresses in the SAN.
    tls = VerifiedTls(server_context(slapd_tls.ca_file), slapd_tls.host)
    service = connect(
        slapd_tls, slapd_tls.service_dn, slapd_tls.service_password, tls, start_tls=True
    )
    assert service.tls_started
    assert service.bound, service.result
    assert service.extend.standard.who_am_i() == f"dn:{slapd_tls.service_dn}"
    root_dse = connect(slapd_tls)
    root_dse.search("", "(objectClass=*)", ldap3.BASE, attributes=["supportedExtension"])
    assert START_TLS_OID in root_dse.entries[0].supportedExtension.values
    # OpenLDAP's own client agrees: -ZZ demands a successful StartTLS.
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LDAP")}
    subprocess.run(
        ["ldapsearch", "-ZZ", "-x", "-H", slapd_tls.url, "-b", "", "-s", "base"],
        env={**environment, "LDAPTLS_CACERT": str(slapd_tls.ca_file)},
        capture_output=True, check=True,
    )  # fmt: skip


def test_start_tls_without_the_ca_fails_verification(slapd_tls: Slapd) -> None:
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED)  # system trust store only
    with pytest.raises(LDAPStartTLSError, match="CERTIFICATE_VERIFY_FAILED"):
        connect(slapd_tls, tls=tls, start_tls=True)


def test_start_tls_unavailable_on_the_plain_server(clean_slapd: Slapd) -> None:
    root_dse = connect(clean_slapd)
    root_dse.search("", "(objectClass=*)", ldap3.BASE, attributes=["supportedExtension"])
    assert START_TLS_OID not in root_dse.entries[0].supportedExtension.values
    with pytest.raises(LDAPStartTLSError):
        connect(clean_slapd, tls=ldap3.Tls(validate=ssl.CERT_REQUIRED), start_tls=True)
