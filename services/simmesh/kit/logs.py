"""JSON logs on stdout: one object per line, with any `extra=` fields merged in."""

from __future__ import annotations

import json
import logging
import sys
import time

# LogRecord attributes that are not user-supplied `extra` fields.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _StdoutJsonHandler(logging.StreamHandler):
    """The handler `configure_logging` installs, told apart from any other so it is replaced, not doubled."""


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route the root logger to stdout as JSON lines (idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _StdoutJsonHandler):
            root.removeHandler(handler)
    json_handler = _StdoutJsonHandler(sys.stdout)
    json_handler.setFormatter(JsonFormatter(service))
    root.addHandler(json_handler)
    root.setLevel(level.upper())
