"""Everything that starts a service or builds a site for the tests and the benchmarks.

Each service runs on 127.0.0.1 at a free port with a temporary data directory, is waited
for until it answers, is stopped by pid and leaves nothing behind:

- ``postgres``: a throwaway PostgreSQL server (and the session fixture ``postgres_server``)
- ``slapd``: a throwaway OpenLDAP server (fixtures ``slapd``, ``clean_slapd``, ``slapd_tls``)
- ``sshd``: a private sshd + nslcd + PAM login host, and ``Site``: slapd + login host + keys
- ``hosts``: several storage hosts on one PostgreSQL and one slapd, each with its config,
  its disk at the shared repos root, its sshd and its watch daemon (``HostsSite``)
- ``openssh``: the installed OpenSSH version and the sshd settings it needs
- ``alerts``: SMTP and HTTP servers that record what alerts deliver, a settable clock
- ``watch``: ``borghive watch`` in a subprocess, and readers of its SQLite store
- ``pings``: ``borghive pings`` in a subprocess on a free port, repositories with ping
  tokens, and the client reports it stored (SQLite and PostgreSQL)
- ``borg``: the real borg client and a template repository made with it
- ``doctor``: a storage host that passes every doctor check
- ``local_accounts``: a private copy of /etc for the local accounts backend
- ``authkeys``: ``borghive authkeys`` run as sshd runs it (``devlog``: a private /dev/log)
- ``keys``: SSH keys made by ssh-keygen, and well-formed random key lines
- ``certificates``: a throwaway CA and server certificates with chosen names (openssl)
- ``net``: free ports, waiting for a port; ``config``: test configurations and their TOML
- ``cli``: the in-process CLI runner; ``environment``: CI, missing services, the installed
  command, an isolated environment, running as ``nobody`` from any checkout

Fixtures are registered for the whole suite in tests/conftest.py (``pytest_plugins``).
"""
