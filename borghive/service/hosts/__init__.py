"""Several storage hosts on one store: which host this is, where a repository lives, how
clients reach it, capacity reports, placement, the login snapshot, and moves between hosts."""
