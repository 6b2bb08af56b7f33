"""Logging with the request id on every line, as text or JSON."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections import deque
from contextvars import ContextVar

__all__ = ["configure_logging", "request_id_var"]

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


_SECRET_PARAM = re.compile(
    r"(?i)([?&][^=&#]*(?:key|token|secret|pass|auth|sig|credential|session)[^=&#]*=)[^&#]*"
)


class _RedactedQuery(logging.Filter):
    """Blanks the values of secret-looking query parameters (an API key sent as ?api_key=) in access lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) > 2 and isinstance(record.args[2], str):
            path = _SECRET_PARAM.sub(r"\1[redacted]", record.args[2])
            record.args = (*record.args[:2], path, *record.args[3:])
        return True


class _TracebackLogged(logging.Filter):
    """On the service's handler: remembers each exception logged with its traceback."""

    def __init__(self, remembered: int = 64) -> None:
        super().__init__()
        self.logged: deque[BaseException] = deque(maxlen=remembered)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            self.logged.append(record.exc_info[1])
        return True


class _NotLoggedYet(logging.Filter):
    """On the server's error logger: drops its record of an exception the service already logged."""

    def __init__(self, logged: _TracebackLogged) -> None:
        super().__init__()
        self.logged = logged.logged

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return exc is None or not any(exc is logged for logged in self.logged)


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Send the service's logs to stderr, each line carrying the current request id."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestIdFilter())
    tracebacks = _TracebackLogged()
    handler.addFilter(tracebacks)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    root = logging.getLogger("faceswap")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    _replace_filter(logging.getLogger("uvicorn.access"), _RedactedQuery())
    _replace_filter(logging.getLogger("uvicorn.error"), _NotLoggedYet(tracebacks))


def _replace_filter(logger: logging.Logger, new: logging.Filter) -> None:
    """Install `new` on `logger` once, however often logging is configured."""
    for old in [f for f in logger.filters if type(f) is type(new)]:
        logger.removeFilter(old)
    logger.addFilter(new)
