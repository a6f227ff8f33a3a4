"""Logging for the daemon: text for people, JSON lines for machines.

Levels mean what ``docs/operations.md`` says: ERROR for lgserver's own
bugs, with a traceback; WARNING for what whoever runs it must act on;
INFO for starting and stopping, listening addresses, sessions opening,
resuming and ending; DEBUG for frames. Nothing is logged per message above
DEBUG.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import MutableMapping
from typing import Any, TextIO

__all__ = ["ConnectionAdapter", "JsonFormatter", "configure"]

_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({})))


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, and any
    extra fields the record carries (a connection id, a session id)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                entry[key] = value if _plain(value) else repr(value)
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


class ConnectionAdapter(logging.LoggerAdapter[logging.Logger]):
    """Adds the connection's id to every record it logs."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        extra = dict(self.extra or {})
        extra.update(kwargs.get("extra") or {})
        kwargs["extra"] = extra
        return f"[{extra.get('connection', '-')}] {msg}", kwargs


def configure(level: int, fmt: str = "text", stream: TextIO | None = None) -> None:
    """Send lgserver's log records to ``stream`` (stderr by default).

    Args:
        level: The lowest level shown.
        fmt: ``"text"`` or ``"json"``.
        stream: Where the lines go.

    Raises:
        ValueError: ``fmt`` is neither.
    """
    if fmt not in ("text", "json"):
        raise ValueError(f"unknown log format {fmt!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
    logger = logging.getLogger("lgserver")
    for old in list(logger.handlers):
        logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
