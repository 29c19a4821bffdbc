"""The server's clock, read at request time; tests may install a fixed clock through app config."""
from __future__ import annotations

from datetime import datetime

from flask import current_app, has_app_context

from .models.types import utcnow


def now() -> datetime:
    """Current UTC time: the app's CLOCK callable if configured (tests), else the wall clock."""
    if has_app_context():
        clock = current_app.config.get("CLOCK")
        if clock is not None:
            return clock()
    return utcnow()


SERVER_TIME_HEADER = "X-Server-Time"


def add_server_time_header(response):
    """Stamp every response with the server's clock (ISO 8601, UTC), so clients judge time windows by it."""
    response.headers.setdefault(SERVER_TIME_HEADER, now().isoformat(timespec="milliseconds"))
    return response
