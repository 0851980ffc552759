"""Log lines: JSON or text, the request id on every line, secrets redacted, long values cut.

`server.middleware.RequestMiddleware` sets `request_id` (a context variable) for each HTTP request
and WebSocket connection; `RequestContextFilter` copies it onto every record logged while it is set,
by any logger (the service's, uvicorn's, Tortoise's). Both formatters pass the message, the extra
fields and the traceback through `redact` and cut each value at `ANALYTICS_LOG_MAX_VALUE_CHARS`.
"""

from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

import orjson

from app.config import Settings

__all__ = [
    "JsonFormatter",
    "RequestContextFilter",
    "TextFormatter",
    "configure_logging",
    "cut",
    "log_handler",
    "redact",
    "request_id",
]

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

REDACTED = "[REDACTED]"
_SECRETS = (
    # A header or field that holds a credential, written as name: value, name=value or ("name", "value").
    re.compile(
        r"(?i)(\b(?:authorization|x-api-key|api[_-]?key|(?:access[_-]?|refresh[_-]?|id[_-]?)?token|jwt[_-]?secret|password|secret)\b"
        r"['\"]?\s*[:=,]\s*(?:b?['\"])?)(?:bearer\s+)?[^\s'\",;)}\]]+"
    ),
    re.compile(r"(?i)\bbearer\s+[^\s'\",;)}\]]+"),
    re.compile(r"\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*"),  # a JWT anywhere
    re.compile(r"\bba_[\w-]{16,}"),  # an API key of this service (app.auth.API_KEY_PREFIX)
)
# Not copied into JSON lines: the record's own attributes, and uvicorn's ANSI-coloured duplicate.
_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "color_message",
}


def redact(text: str) -> str:
    """`text` with credentials replaced by `[REDACTED]`."""
    text = _SECRETS[0].sub(lambda m: m.group(1) + REDACTED, text)
    text = _SECRETS[1].sub("Bearer " + REDACTED, text)
    text = _SECRETS[2].sub(REDACTED, text)
    return _SECRETS[3].sub(REDACTED, text)


def cut(text: str, limit: int) -> str:
    """At most `limit` characters, saying how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…[cut {len(text) - limit} chars]"


class RequestContextFilter(logging.Filter):
    """Puts the current request id (or None outside a request) on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, extras, exception."""

    def __init__(self, max_chars: int = 2000) -> None:
        super().__init__()
        self.max_chars = max_chars

    def _clean(self, value: Any, limit: int | None = None) -> Any:
        if value is None or isinstance(value, bool | int | float):
            return value
        return cut(redact(str(value)), limit or self.max_chars)

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self._clean(record.getMessage()),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                out[key] = self._clean(value)
        if record.exc_info:
            out["exception"] = self._clean(self.formatException(record.exc_info), self.max_chars * 8)
        return orjson.dumps(out).decode()


class TextFormatter(logging.Formatter):
    """`LEVEL: logger: [request id] message`, redacted and cut like the JSON lines."""

    def __init__(self, max_chars: int = 2000) -> None:
        super().__init__()
        self.max_chars = max_chars

    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", None)
        line = f"{record.levelname}: {record.name}: {f'[{rid}] ' if rid else ''}{record.getMessage()}"
        line = cut(redact(line), self.max_chars)
        if record.exc_info:
            line += "\n" + cut(redact(self.formatException(record.exc_info)), self.max_chars * 8)
        return line


def log_handler(settings: Settings, stream: IO[str] | None = None) -> logging.Handler:
    """A handler writing the configured format (JSON or text) with the request id filter."""
    handler = logging.StreamHandler(stream or sys.stderr)
    formatter: logging.Formatter = (
        JsonFormatter(settings.log_max_value_chars)
        if settings.json_logs
        else TextFormatter(settings.log_max_value_chars)
    )
    handler.setFormatter(formatter)
    handler.addFilter(RequestContextFilter())
    return handler


def configure_logging(settings: Settings) -> None:
    """Route every logger (uvicorn's included: it is started with `log_config=None`) to one handler."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(log_handler(settings))
    root.setLevel(settings.log_level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
