"""borghive: run a BorgBackup repository server."""

__version__ = "0.1.0"
