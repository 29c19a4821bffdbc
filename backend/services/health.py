"""Readiness: whether the database answers (for the API probes and the root probes alike)."""
from __future__ import annotations

from sqlalchemy import text

from ..extensions import db


def readiness() -> dict:
    """{"status": "ok", "database": dialect} when the database answers a trivial query, else
    {"status": "unavailable", "error": the error's class name}."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 — any failure means not ready
        return {"status": "unavailable", "error": type(exc).__name__}
    return {"status": "ok", "database": db.engine.dialect.name}
