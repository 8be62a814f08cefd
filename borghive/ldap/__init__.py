"""The LDAP adapter (the only package that imports ldap3); see the accounts issue."""
