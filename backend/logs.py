"""Structured JSON logs with the request id."""
from __future__ import annotations

import json
import logging
import random
import sys
import time

from flask import Flask, g, has_request_context, request

from .request_id import current_request_id


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
               "logger": record.name, "msg": record.getMessage()}
        if has_request_context():
            out["request_id"] = g.get("request_id")
        for key in ("path", "method", "status", "ms"):
            if hasattr(record, key):
                out[key] = getattr(record, key)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def init_app(app: Flask) -> None:
    """Install the JSON handler and the request-id / access-log hooks."""
    root = logging.getLogger()
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    root.setLevel(app.config.get("LOG_LEVEL", "INFO"))
    # JsonFormatter writes none of the caller's file and line or thread: skip collecting them for every
    # record (the logging HOWTO's "Optimization"; the caller lookup walks the stack). The process id
    # stays: gunicorn's own log format in this process prints it with %(process)d, and without it every
    # gunicorn message of a worker (request errors, "Worker exiting") failed to format and was lost.
    logging._srcfile = None
    logging.logThreads = logging.logMultiprocessing = False
    access = logging.getLogger("access")

    @app.before_request
    def _request_id():
        rid = request.headers.get("X-Request-Id", "")
        # 128 random bits as 32 hex digits, like uuid4().hex, from the process's PRNG (reseeded after
        # fork) rather than a getrandom system call per request: an id to correlate logs, not a secret.
        g.request_id = rid[:64] if rid and rid.isprintable() else f"{random.getrandbits(128):032x}"
        g.started = time.perf_counter()
        current_request_id.set(g.request_id)

    @app.teardown_request
    def _end_request_id(_exc=None):
        current_request_id.set(None)

    @app.after_request
    def _access_log(response):
        response.headers["X-Request-Id"] = g.get("request_id", "")
        if app.config.get("ACCESS_LOG", True):
            ms = round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 1)
            access.info("request", extra={"path": request.path, "method": request.method,
                                          "status": response.status_code, "ms": ms})
        return response
