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
