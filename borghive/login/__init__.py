"""Everything ``borghive authkeys`` (sshd's AuthorizedKeysCommand) may import, and the login
copy of the configuration it reads. Checked by an import-allowlist test: no typer, rich,
peewee or ldap3 here.
"""
