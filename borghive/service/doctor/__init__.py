"""Checks of a storage host's deployment: configuration, store, directory, permissions."""
