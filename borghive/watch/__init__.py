"""The repository event daemon (inotify) and its pure event classification."""
