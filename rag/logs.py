"""Log output of the entry points: text, or one JSON object a line (RAG_LOG_FORMAT=json) for a log collector,
each line carrying the id of the HTTP request it belongs to. Library modules only log through
`logging.getLogger(__name__)`; `configure` is called by the CLI, and the web app sets `request_id`."""
from __future__ import annotations

import contextvars
import json
import logging
import time

# the request being served: set by the web app per request; copied into the worker threads that serve it
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
TEXT = "%(levelname)s %(name)s: %(message)s"


class RequestId(logging.Filter):
    """Puts the current request id on every record (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonLines(logging.Formatter):
    """{"time", "level", "logger", "message", "request_id", ["error"], [extra fields]} on one line."""

    EXTRA = ("method", "path", "status", "ms", "client")   # fields the access log adds with `extra=`

    def format(self, record: logging.LogRecord) -> str:
        out = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
               "level": record.levelname, "logger": record.name, "message": record.getMessage(),
               "request_id": getattr(record, "request_id", None)}
        out.update({k: getattr(record, k) for k in self.EXTRA if hasattr(record, k)})
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def configure(level: str, fmt: str = "text") -> None:
    """Root logging for an entry point: `level` (WARNING, INFO, ...) and format `text` or `json`. Libraries that
    set their own loggers to DEBUG (bm25s) stay quiet: the level is on the handler too."""
    handler = logging.StreamHandler()
    handler.setLevel(level.upper())
    handler.addFilter(RequestId())
    handler.setFormatter(JsonLines() if fmt == "json" else logging.Formatter(TEXT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
