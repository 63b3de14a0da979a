"""How ``datacoral serve`` and ``datacoral load`` write their logs: text or JSON lines.

``--log-format text`` (the default) writes ``TIME LEVEL logger: message``;
``--log-format json`` (``DATACORAL_LOG_FORMAT=json``) writes one JSON object per
line, for log shippers::

    {"time": "2026-12-08T10:00:00.123Z", "level": "info", "logger": "datacoral.access",
     "pid": 4242, "message": "POST /tp2 200 1.4ms env=dev id=9f3c...", "request_id": "9f3c...",
     "environment": "dev", "method": "POST", "path": "/tp2", "status": 200, "duration_ms": 1.4}

The fields are a fixed list (:data:`REQUEST_FIELDS` for request lines, written by
the access log): nothing a record happens to carry is copied. No record holds an
API key, an admin token or an event body: paths are logged with a ``/k/{key}/``
prefix hidden, query strings and bodies never.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any

LOG_FORMATS = ("text", "json")
#: The fields of a request's line (``serve`` with the access log on), besides the message.
REQUEST_FIELDS = ("request_id", "environment", "method", "path", "status", "duration_ms")


class JSONFormatter(logging.Formatter):
    """One JSON object per record: time (UTC), level, logger, pid, message, and the
    request fields when the record has them; an exception's traceback as ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        fields = record.__dict__
        for name in REQUEST_FIELDS:
            if name in fields:
                entry[name] = fields[name]
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def formatter(log_format: str, *, with_pid: bool = False) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` entry of the formatter for ``log_format``.

    ``with_pid`` names the process in every text line (``datacoral.access[4242]: ...``),
    for processes whose lines share one stderr; JSON lines always carry ``pid``.
    """
    if log_format == "json":
        return {"()": f"{__name__}.JSONFormatter"}
    if log_format != "text":
        raise ValueError(f"log_format must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
    source = "%(name)s[%(process)d]" if with_pid else "%(name)s"
    return {"format": f"%(asctime)s %(levelname)s {source}: %(message)s"}
