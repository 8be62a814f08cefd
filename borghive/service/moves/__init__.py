"""Moving a repository to another storage host (``repo move``): the pure plan, the store
records, the commands between hosts, what runs on the target, and the whole run."""
