"""Use cases: users, keys, repositories, access. No printing, no exiting."""
