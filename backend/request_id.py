"""The id of the request being served, for records written below the api layer (audit entries)."""
from __future__ import annotations

from contextvars import ContextVar

# Set by backend/logs.py when a request starts and cleared when it ends; None outside requests.
current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)
