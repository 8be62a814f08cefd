"""How ``borghive pings`` is put together: its logging, the configuration reload and the
store it runs on. The command (``cli/pings.py``) only calls :func:`run`."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from borghive.config import Config
from borghive.config_load import load_config
from borghive.store import open_store


def configure_logging(debug: bool) -> None:
    """One ``borghive pings: LEVEL: message`` line per record on stderr (the journal)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("borghive pings: %(levelname)s: %(message)s"))
    logger = logging.getLogger("borghive")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    logger.propagate = False


def run(config: Config, config_path: Path | None) -> int:
    """Serve pings until SIGTERM/SIGINT; SIGHUP reloads ``config_path`` and the tokens.
    Returns the exit status. Raises StoreOutdatedError, StoreUnavailableError or
    ConfigError; OSError when the address cannot be listened on."""
    from borghive.pings.daemon import PingDaemon

    def reload() -> Config:
        return load_config(config_path)

    with open_store(config.store):
        return PingDaemon(config, reload=reload).run()
