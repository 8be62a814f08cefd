"""The local accounts adapter: repository users in this host's /etc/passwd, via shadow-utils."""
