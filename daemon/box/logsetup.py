"""Logging to stderr as key=value lines that journald and grep read well."""
from __future__ import annotations

import logging
import sys


class KeyValueFormatter(logging.Formatter):
    """``level=info component=store msg="..."``; messages may already carry key=value pairs."""

    def format(self, record: logging.LogRecord) -> str:
        component = record.name.removeprefix("hotline.")
        msg = record.getMessage()
        if "=" in msg.split(" ", 1)[0]:
            text = f"level={record.levelname.lower()} component={component} {msg}"
        else:
            text = f'level={record.levelname.lower()} component={component} msg="{msg}"'
        if record.exc_info:
            text += " exc=" + repr(self.formatException(record.exc_info))
        return text


def setup_logging(level: str = "info", components: dict[str, str] | None = None) -> None:
    """Configure the root hotline logger and per-component levels."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    for name in ("hotline", "tornado"):
        logger = logging.getLogger(name)
        for h in list(logger.handlers):
            logger.removeHandler(h)
        logger.addHandler(handler)
        logger.propagate = False
    root = logging.getLogger("hotline")
    root.setLevel(level.upper())
    for name, lvl in (components or {}).items():
        logging.getLogger(f"hotline.{name}").setLevel(lvl.upper())
    logging.getLogger("tornado.access").setLevel(logging.WARNING)
