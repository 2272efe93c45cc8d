"""Structured logs: one JSON object per line on stderr (stdlib logging, no extra packages).

Every record has ``ts`` (UTC, ISO-8601), ``level``, ``logger`` and ``message``; a record made
with ``extra={"fields": {...}}`` adds those fields (the access log of
:mod:`api.observability`: ``method``, ``route``, ``status``, ``duration_ms``, ``request_id``),
and a record with an exception adds ``exc`` (the traceback). Nothing else of the record is
written, so stray attributes (uvicorn's coloured copies of its messages) never reach the log.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Final, TextIO

#: The record attribute whose dict is merged into the JSON object.
FIELDS_ATTR: Final[str] = "fields"


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON (non-ASCII kept as is)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, FIELDS_ATTR, None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str, stream: TextIO | None = None) -> None:
    """Send every log record at ``level`` or above to ``stream`` (default: stderr) as JSON.

    Replaces the root logger's handlers; loggers of libraries (uvicorn) propagate to it.

    Raises:
        ValueError: if ``level`` is not a logging level name.
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"log level must be DEBUG, INFO, WARNING or ERROR, got {level!r}")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
