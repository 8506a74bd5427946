"""Structured logs: one JSON line per event, a request id carried through a
contextvar. Never a token, checksum, secret, name or e-mail in a log line:
only the fields passed in `extra` that are on the allow-list are written."""

from __future__ import annotations

import contextvars
import json
import logging
import sys

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

# Fields that may appear in a log line. Anything else passed in `extra` is dropped,
# so a careless call cannot leak personal data into the logs.
ALLOWED_FIELDS = frozenset({
    "event", "route", "method", "status", "duration_ms", "reason", "idp", "role", "result",
    "platform", "call", "error", "purpose", "action", "count", "meeting_ref", "room_ref",
    "recording_ref", "person", "server", "attempt", "delay_s", "due", "lock", "fence",
    "exception_class", "step",
})


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": request_id.get(),
        }
        for name in ALLOWED_FIELDS:
            if name in record.__dict__:
                line[name] = record.__dict__[name]
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = record.exc_info[0].__name__
        return json.dumps(line, default=str)


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
